//! The count's protocol under loom: handles dropped on two threads while the publisher's own
//! handle drops on a third; whoever frees the value must see every other handle's reads.

use super::*;
use loom::cell::UnsafeCell;

struct Value(UnsafeCell<u64>);
impl Drop for Value {
    fn drop(&mut self) {
        // A write: loom reports it if it is not ordered after every read below.
        // SAFETY: `&mut self`: no handle is left to read the value.
        self.0.with_mut(|v| unsafe { *v = 0 });
    }
}

#[test]
fn loom_the_last_of_prepaid_handles_frees_after_every_read() {
    loom::model(|| {
        let own = Counted::new(Value(UnsafeCell::new(7)));
        own.prepay(2);
        // SAFETY: two units prepaid, two handles made.
        let (a, b) = unsafe { (own.prepaid(), own.prepaid()) };
        let read = |h: Counted<Value>| {
            loom::thread::spawn(move || {
                // SAFETY: no one writes the value while handles exist.
                let v = h.0.with(|v| unsafe { *v });
                assert_eq!(v, 7);
                drop(h);
            })
        };
        let (ta, tb) = (read(a), read(b));
        drop(own);
        ta.join().unwrap();
        tb.join().unwrap();
    });
}
