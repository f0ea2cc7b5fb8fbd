/* The desk's Rust execution engine hosted by a C program: linked from the desk's actor
 * library (libdesk_cabi.a, the Mycelium C ABI with the desk's actors), started by name,
 * unsupervised and in a supervision tree, and asked with the desk's messages (desk.yaml).
 * Checks the refusals a C user meets: an unknown actor name, an argument the engine does
 * not take, a bus of another schema. Prints "ok" and exits 0 when every check holds.
 *
 *   desk_check DESK_DIGEST     (mycelium-codegen digest examples/desk/desk.yaml prints it)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mycelium.h"

#define NEW_ORDER 7101
#define FILL 7102
#define BUY 1
#define SELL 2

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, \
                    __LINE__, #cond, myc_last_error());                              \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)
#define OK(call) CHECK((call) == MYC_STATUS_OK)
/* The call fails with `status`, and its message says `text`. */
#define REFUSED(call, status, text)                                                   \
    do {                                                                              \
        CHECK((call) == (status));                                                    \
        if (!strstr(myc_last_error(), (text))) {                                      \
            fprintf(stderr, "%s:%d: the message lacks \"%s\": %s\n", __FILE__, __LINE__, \
                    (text), myc_last_error());                                        \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

/* The wire encoding (docs/wire.md): per field a 2-byte key (tag << 3 | wire type), then
 * the value, little-endian; wire type 2 is a 4-byte value, 3 an 8-byte one. */
static size_t put_field(unsigned char *out, size_t n, uint16_t tag, uint16_t wire,
                        const void *value, size_t len) {
    uint16_t key = (uint16_t)(tag << 3 | wire);
    memcpy(out + n, &key, 2);
    memcpy(out + n + 2, value, len);
    return n + 2 + len;
}

/* desk.NewOrder { order_id, side, qty, mark }. */
static size_t new_order(unsigned char *out, uint64_t id, uint32_t side, uint32_t qty, double mark) {
    size_t n = 0;
    n = put_field(out, n, 1, 3, &id, 8);
    n = put_field(out, n, 2, 2, &side, 4);
    n = put_field(out, n, 3, 2, &qty, 4);
    n = put_field(out, n, 4, 3, &mark, 8);
    return n;
}

struct fill { uint64_t order_id; uint32_t qty; double price; int64_t position; };

/* desk.Fill, as the engine writes it (fields in order, each key then value). */
static struct fill read_fill(const struct MycBytes *b) {
    struct fill f;
    CHECK(b->len == 36);
    memcpy(&f.order_id, b->data + 2, 8);
    memcpy(&f.qty, b->data + 12, 4);
    memcpy(&f.price, b->data + 18, 8);
    memcpy(&f.position, b->data + 28, 8);
    return f;
}

static struct fill order(struct MycBus *bus, const char *service, uint64_t id, uint32_t side,
                         double mark) {
    unsigned char body[64];
    size_t len = new_order(body, id, side, 10, mark);
    uint16_t reply_type = 0;
    struct MycBytes reply;
    OK(myc_ask(bus, service, NEW_ORDER, body, len, 5000, &reply_type, &reply));
    CHECK(reply_type == FILL);
    struct fill f = read_fill(&reply);
    OK(myc_bytes_free(&reply));
    return f;
}

int main(int argc, char **argv) {
    CHECK(argc == 2 && strlen(argv[1]) == 64);
    const char *desk_digest = argv[1];
    OK(myc_library_init());
    OK(myc_library_init()); /* once per process; later calls return the first outcome */

    struct MycBus *bus = NULL;
    OK(myc_bus_new(false, 7, &bus));
    OK(myc_bus_set_schema(bus, "desk", desk_digest));

    /* The refusals, each with nothing left running. */
    REFUSED(myc_spawn_rust(bus, "executon", NULL, "execution"), MYC_STATUS_INVALID_ARGUMENT,
            "the Rust actors here:");
    REFUSED(myc_spawn_rust(bus, "executon", NULL, "execution"), MYC_STATUS_INVALID_ARGUMENT,
            "execution (optional arg: the spread in ticks");
    REFUSED(myc_spawn_rust(bus, "execution", "wide", "execution"), MYC_STATUS_INVALID_ARGUMENT,
            "the spread is a whole number of ticks, not \"wide\"");
    REFUSED(myc_spawn_rust(bus, "counter", NULL, "counter"), MYC_STATUS_INVALID_ARGUMENT,
            "this bus speaks the schema `desk`");
    REFUSED(myc_bus_set_schema(bus, "trading", myc_example_schema_digest()),
            MYC_STATUS_INVALID_ARGUMENT, "the bus already speaks the schema `desk`");
    struct MycBus *other = NULL;
    OK(myc_bus_new(false, 7, &other));
    OK(myc_bus_set_schema(other, "trading", myc_example_schema_digest()));
    REFUSED(myc_spawn_rust(other, "execution", NULL, "execution"), MYC_STATUS_INVALID_ARGUMENT,
            "the Rust actor `execution` speaks the schema `desk`");
    OK(myc_bus_free(other));

    /* Unsupervised, with a spread of 4 ticks: fills 2 cents off the mark. */
    OK(myc_spawn_rust(bus, "execution", "4", "execution"));
    struct fill f = order(bus, "execution", 1, BUY, 100.5);
    CHECK(f.order_id == 1 && f.qty == 10 && f.price == 100.52 && f.position == 10);
    f = order(bus, "execution", 2, SELL, 100.5);
    CHECK(f.price == 100.48 && f.position == 0);
    REFUSED(myc_spawn_rust(bus, "execution", NULL, "execution"), MYC_STATUS_INVALID_ARGUMENT,
            "the service name `execution` is taken");

    /* Supervised: a child of a tree, exported under its own service. */
    struct MycTree *tree = NULL;
    OK(myc_tree_new(MYC_ONE_FOR_ONE, 3, 1000, 10, 2.0, 100, &tree));
    OK(myc_tree_add_rust(tree, "engine", "execution", NULL, "engine"));
    struct MycSupervisor *sup = NULL;
    OK(myc_tree_start(bus, tree, &sup));
    f = order(bus, "engine", 3, SELL, 99.0);
    CHECK(f.price == 98.99 && f.position == -10);
    OK(myc_supervisor_free(sup));

    /* A tree's Rust child of another schema is refused when the tree starts. */
    OK(myc_tree_new(MYC_ONE_FOR_ONE, 3, 1000, 10, 2.0, 100, &tree));
    OK(myc_tree_add_rust(tree, "counter", "counter", NULL, "counter"));
    REFUSED(myc_tree_start(bus, tree, &sup), MYC_STATUS_INVALID_ARGUMENT,
            "child `counter`: the built-in Rust actor `counter` speaks the schema `trading`");

    OK(myc_bus_free(bus));
    printf("ok\n");
    return 0;
}
