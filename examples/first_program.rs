use mycelium::prelude::*;

struct Counter(u64);
impl Actor for Counter {
    type Args = u64;
    async fn on_start(n: u64, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Counter(n))
    }
}
impl Handler<u64> for Counter {
    type Reply = u64;
    async fn handle(&mut self, n: u64, _: &mut Context<Self>) -> u64 {
        self.0 += n;
        self.0
    }
}

#[tokio::main]
async fn main() {
    let counter = Bus::new().spawn::<Counter>(0);
    counter.tell(2).await.unwrap();
    println!("total: {}", counter.ask(3).await.unwrap()); // total: 5
}
