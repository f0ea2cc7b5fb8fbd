/* Exercises the C ABI end to end: bus lifecycle, a foreign actor with tell/ask, a failing
 * callback, a supervision tree with a restart next to a Rust actor, topics, teardown.
 * Built and run by tests/c_program.rs; prints "ok" and exits 0 when every check holds. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, sched_yield */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mycelium.h"

#define HEARTBEAT 900
#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__,   \
                    __LINE__, #cond, myc_last_error());                                \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)
#define OK(call) CHECK((call) == MYC_STATUS_OK)

/* A Heartbeat body in the contract's TLV encoding: ts_ns (tag 1), seq (tag 2), sender (3). */
static size_t encode_heartbeat(unsigned char *out, uint64_t ts, uint64_t seq, const char *sender) {
    size_t n = 0, len = strlen(sender);
    uint16_t key;
    uint32_t slen = (uint32_t)len;
    key = (1 << 3) | 3; memcpy(out + n, &key, 2); n += 2; memcpy(out + n, &ts, 8); n += 8;
    key = (2 << 3) | 3; memcpy(out + n, &key, 2); n += 2; memcpy(out + n, &seq, 8); n += 8;
    key = (3 << 3) | 4; memcpy(out + n, &key, 2); n += 2; memcpy(out + n, &slen, 4); n += 4;
    memcpy(out + n, sender, len); n += len;
    return n;
}

static uint64_t heartbeat_seq(const unsigned char *body, size_t len) {
    uint64_t seq = 0;
    if (len >= 20) memcpy(&seq, body + 12, 8);
    return seq;
}

static const char *heartbeat_sender(const unsigned char *body, size_t len, size_t *slen) {
    uint32_t n = 0;
    if (len < 26) { *slen = 0; return ""; }
    memcpy(&n, body + 22, 4);
    *slen = n;
    return (const char *)body + 26;
}

/* The actor: its state counts the heartbeats it handled; it answers seq + count. A sender
 * of "boom" makes it fail. user_data counts starts and stops, and frees. */
typedef struct { int starts, stops, freed, batches; } Shared;

static int32_t on_start(void *user, const uint8_t *args, size_t len, void **state, MycCall *call) {
    Shared *shared = user;
    (void)call;
    shared->starts++;
    uint64_t *count = malloc(sizeof(uint64_t));
    *count = (len == 8) ? *(const uint64_t *)args : 0;
    *state = count;
    return 0;
}

static int32_t on_handle(void *user, void *state, uint16_t type_id, const uint8_t *body, size_t len,
                         MycCall *call) {
    (void)user;
    uint64_t *count = state;
    size_t slen;
    const char *sender = heartbeat_sender(body, len, &slen);
    if (type_id != HEARTBEAT) {
        myc_call_fail(call, "not a heartbeat");
        return 2;
    }
    if (slen == 4 && memcmp(sender, "boom", 4) == 0) {
        myc_call_fail(call, "boom from C");
        return 1;
    }
    *count += 1;
    unsigned char reply[64];
    size_t n = encode_heartbeat(reply, 0, heartbeat_seq(body, len) + *count, "c");
    return myc_call_reply(call, HEARTBEAT, reply, n) == MYC_STATUS_OK ? 0 : 3;
}

static void on_stop(void *user, void *state, const char *reason) {
    Shared *shared = user;
    (void)reason;
    shared->stops++;
    free(state);
}

static void on_free(void *user) { ((Shared *)user)->freed++; }

/* Counts the batches of mail the library runs (it calls on_handle inside `run`). */
static void on_batch(void *user, void (*run)(void *batch), void *batch) {
    ((Shared *)user)->batches++;
    run(batch);
}

static uint64_t ask_seq(MycActor *actor, uint64_t seq, const char *sender, MycStatus *status) {
    unsigned char body[64];
    size_t n = encode_heartbeat(body, 0, seq, sender);
    uint16_t reply_type = 0;
    MycBytes reply = {0};
    *status = myc_actor_ask(actor, HEARTBEAT, body, n, -1, &reply_type, &reply);
    uint64_t out = 0;
    if (*status == MYC_STATUS_OK) {
        CHECK(reply_type == HEARTBEAT);
        out = heartbeat_seq(reply.data, reply.len);
    }
    OK(myc_bytes_free(&reply));
    return out;
}

static uint64_t ask_service(MycBus *bus, const char *service, uint64_t seq, MycStatus *status) {
    unsigned char body[64];
    size_t n = encode_heartbeat(body, 0, seq, "");
    uint16_t reply_type = 0;
    MycBytes reply = {0};
    *status = myc_ask(bus, service, HEARTBEAT, body, n, -1, &reply_type, &reply);
    uint64_t out = *status == MYC_STATUS_OK ? heartbeat_seq(reply.data, reply.len) : 0;
    OK(myc_bytes_free(&reply));
    return out;
}

/* The bus's task count once it is at_most or less: an actor that just answered may still be
 * on its way back to sleep. Bounded (20 s), reached only when a check is failing. */
static uint64_t settle_tasks(MycBus *bus, uint64_t at_most) {
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    uint64_t tasks = 0;
    for (;;) {
        OK(myc_bus_runtime_tasks(bus, &tasks));
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (tasks <= at_most || now.tv_sec - start.tv_sec > 20) return tasks;
        sched_yield();
    }
}

/* Hibernating actors (MYC_SPAWN_HIBERNATE): no task while they have no mail, otherwise the
 * same actors; unknown flags are refused. */
static void hibernating(void) {
    MycStatus st;
    unsigned char body[64];
    size_t n;
    MycBus *bus = NULL;
    OK(myc_bus_new(false, 3, &bus));
    uint64_t base = 0;
    OK(myc_bus_runtime_tasks(bus, &base));
    Shared shared = {0};
    MycActorCallbacks cb = {&shared, on_start, on_handle, on_stop, on_free, on_batch};
    uint64_t first = 100;
    MycActor *sleepers[10];
    for (int i = 0; i < 10; i++) {
        OK(myc_actor_spawn_with(bus, &cb, (const uint8_t *)&first, sizeof first,
                                MYC_SPAWN_HIBERNATE, &sleepers[i]));
        CHECK(ask_seq(sleepers[i], 0, "", &st) == 101 && st == MYC_STATUS_OK);
    }
    /* The bus's hibernation driver is the one task more. */
    CHECK(settle_tasks(bus, base + 1) == base + 1);
    /* A tell, then an ask, each finding it asleep: its state was kept. */
    n = encode_heartbeat(body, 0, 0, "");
    OK(myc_actor_tell(sleepers[0], HEARTBEAT, body, n));
    CHECK(ask_seq(sleepers[0], 0, "", &st) == 103 && st == MYC_STATUS_OK);
    /* A failing callback fails the sleeper (unsupervised, it stops). */
    ask_seq(sleepers[1], 0, "boom", &st);
    CHECK(st == MYC_STATUS_FAILED);
    for (int i = 0; i < 10; i++) OK(myc_actor_free(sleepers[i]));
    CHECK(shared.starts == 10 && shared.stops == 10 && shared.freed == 10);

    /* An unknown flag is refused, and the callbacks' user data is released. */
    Shared refused = {0};
    MycActorCallbacks refused_cb = {&refused, on_start, on_handle, on_stop, on_free, NULL};
    MycActor *none = NULL;
    CHECK(myc_actor_spawn_with(bus, &refused_cb, NULL, 0, 0x80, &none) ==
          MYC_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(myc_last_error(), "unknown spawn flags 0x80") != NULL);
    CHECK(none == NULL && refused.starts == 0 && refused.freed == 1);

    /* A hibernating child of a tree restarts in place. */
    Shared tree_shared = {0};
    MycActorCallbacks tree_cb = {&tree_shared, on_start, on_handle, on_stop, on_free, NULL};
    MycTree *tree = NULL;
    OK(myc_tree_new(MYC_ONE_FOR_ONE, 3, 60000, 1, 2.0, 10, &tree));
    uint16_t ids[] = {HEARTBEAT};
    CHECK(myc_tree_add_foreign_with(tree, "refused", &refused_cb, NULL, 0, NULL, ids, 1, 0x80) ==
          MYC_STATUS_INVALID_ARGUMENT);
    CHECK(refused.starts == 0 && refused.freed == 2);
    OK(myc_tree_add_foreign_with(tree, "model", &tree_cb, (const uint8_t *)&first, sizeof first,
                                 "model", ids, 1, MYC_SPAWN_HIBERNATE));
    MycSupervisor *sup = NULL;
    OK(myc_tree_start(bus, tree, &sup));
    MycActor *model = NULL;
    OK(myc_supervisor_child(sup, "model", &model));
    CHECK(ask_seq(model, 0, "", &st) == 101);
    ask_seq(model, 0, "boom", &st);
    CHECK(st == MYC_STATUS_FAILED);
    CHECK(ask_seq(model, 0, "", &st) == 101 && st == MYC_STATUS_OK);
    CHECK(tree_shared.starts == 2 && tree_shared.stops == 1);
    OK(myc_actor_free(model));
    OK(myc_supervisor_free(sup));
    CHECK(tree_shared.stops == 2 && tree_shared.freed == 1);
    OK(myc_bus_free(bus));
}

int main(void) {
    MycStatus st;
    unsigned char body[64];
    size_t n;

    /* Errors: a null out pointer is refused with a message, never a crash. */
    CHECK(myc_bus_new(false, 1, NULL) == MYC_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(myc_last_error(), "out is null") != NULL);

    MycBus *bus = NULL;
    OK(myc_bus_new(false, 7, &bus));

    /* Lifecycle, tell and ask. */
    Shared shared = {0};
    MycActorCallbacks cb = {&shared, on_start, on_handle, on_stop, on_free, on_batch};
    uint64_t first = 100;
    MycActor *actor = NULL;
    OK(myc_actor_spawn(bus, &cb, (const uint8_t *)&first, sizeof first, &actor));
    CHECK(shared.starts == 1);
    n = encode_heartbeat(body, 0, 0, "");
    OK(myc_actor_tell(actor, HEARTBEAT, body, n));
    CHECK(ask_seq(actor, 1000, "", &st) == 1000 + 102 && st == MYC_STATUS_OK);
    /* The tell went through the mailbox: handled inside a batch. */
    CHECK(shared.batches >= 1);

    /* By service name, from C and from a Rust actor (the relay asks it with seq + 1). */
    uint16_t ids[] = {HEARTBEAT};
    OK(myc_actor_export(actor, "c-counter", ids, 1));
    CHECK(ask_service(bus, "c-counter", 0, &st) == 103 && st == MYC_STATUS_OK);
    OK(myc_spawn_rust(bus, "relay", "c-counter", "relay"));
    CHECK(ask_service(bus, "relay", 0, &st) == 1 + 104 && st == MYC_STATUS_OK);
    CHECK(ask_service(bus, "nobody", 0, &st) == 0 && st == MYC_STATUS_UNKNOWN_SERVICE);

    /* A failing callback: the ask fails at once with the message; unsupervised, it stops. */
    ask_seq(actor, 0, "boom", &st);
    CHECK(st == MYC_STATUS_FAILED);
    CHECK(strstr(myc_last_error(), "boom from C") != NULL);
    OK(myc_actor_free(actor));
    CHECK(shared.stops == 1 && shared.freed == 1);

    /* A tree: a foreign child next to a Rust counter; the child fails and is restarted in
     * place with the same args; the handle stays valid. */
    Shared tree_shared = {0};
    MycActorCallbacks tree_cb = {&tree_shared, on_start, on_handle, on_stop, on_free, NULL};
    MycTree *tree = NULL;
    OK(myc_tree_new(MYC_ONE_FOR_ONE, 3, 60000, 1, 2.0, 10, &tree));
    OK(myc_tree_add_rust(tree, "counter", "counter", NULL, "counter"));
    OK(myc_tree_add_foreign(tree, "model", &tree_cb, (const uint8_t *)&first, sizeof first, "model", ids, 1));
    CHECK(myc_tree_add_rust(tree, "counter", "counter", NULL, NULL) == MYC_STATUS_INVALID_ARGUMENT);
    MycSupervisor *sup = NULL;
    OK(myc_tree_start(bus, tree, &sup));
    MycActor *model = NULL;
    OK(myc_supervisor_child(sup, "model", &model));
    CHECK(ask_seq(model, 0, "", &st) == 101);
    ask_seq(model, 0, "boom", &st);
    CHECK(st == MYC_STATUS_FAILED);
    CHECK(ask_seq(model, 0, "", &st) == 101 && st == MYC_STATUS_OK);
    CHECK(tree_shared.starts == 2 && tree_shared.stops == 1);
    OK(myc_supervisor_wait_restarts(sup, "model", 1));
    uint64_t restarts = 0;
    OK(myc_supervisor_restarts(sup, "model", &restarts));
    CHECK(restarts == 1);
    OK(myc_supervisor_restarts(sup, NULL, &restarts));
    CHECK(restarts == 1);
    uint64_t dead = 0;
    OK(myc_bus_dead_letters(bus, &dead));
    CHECK(dead >= 2);
    n = encode_heartbeat(body, 0, 5, "");
    OK(myc_tell(bus, "counter", HEARTBEAT, body, n));
    CHECK(ask_service(bus, "counter", 0, &st) == 5);

    /* Topics: the child subscribes to heartbeats; a publication reaches it. */
    MycSubscription *sub = NULL;
    OK(myc_actor_subscribe(model, HEARTBEAT, "sys.heartbeat", &sub));
    size_t delivered = 0;
    n = encode_heartbeat(body, 0, 0, "");
    OK(myc_publish(bus, HEARTBEAT, "sys.heartbeat", body, n, NULL, &delivered));
    CHECK(delivered == 1);
    CHECK(ask_seq(model, 0, "", &st) == 103); /* the publication was counted */
    OK(myc_subscription_free(sub));
    OK(myc_publish(bus, HEARTBEAT, "sys.heartbeat", body, n, NULL, &delivered));
    CHECK(delivered == 0);
    CHECK(myc_publish(bus, 12345, "x", body, n, NULL, NULL) == MYC_STATUS_WRONG_TYPE);

    /* Teardown: the tree stops synchronously, then the callbacks' user data is freed. */
    OK(myc_actor_free(model));
    OK(myc_supervisor_free(sup));
    CHECK(tree_shared.stops == 2 && tree_shared.freed == 1);
    OK(myc_bus_free(bus));

    /* Virtual time: a bus whose clock starts at zero. */
    MycBus *vbus = NULL;
    OK(myc_bus_new(true, 1, &vbus));
    uint64_t now = 1;
    OK(myc_bus_now_ns(vbus, &now));
    CHECK(now == 0);
    OK(myc_bus_free(vbus));

    hibernating();

    printf("ok\n");
    return 0;
}
