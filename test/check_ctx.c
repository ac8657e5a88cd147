#include "ctx/ctx.h"
#include "suites.h"
#include "testutil.h"

START_TEST(test_ctx_cancel)
{
	drpc_ctx *ctx;

	DRPC_CHECK_OK(drpc_ctx_create(&ctx, NULL));
	DRPC_CHECK_OK(drpc_ctx_err(ctx));
	ck_assert_int_eq(drpc_ctx_deadline(ctx), 0);
	drpc_ctx_cancel(ctx);
	drpc_ctx_cancel(ctx); // idempotent
	DRPC_CHECK_ERR(drpc_ctx_err(ctx), DRPC_ECANCELED);
	drpc_ctx_destroy(ctx);
	drpc_ctx_cancel(NULL);
	DRPC_CHECK_OK(drpc_ctx_err(NULL));
	drpc_ctx_destroy(NULL);
}
END_TEST

// Cancelling a parent cancels its children; a child's cancel does not
// reach the parent.
START_TEST(test_ctx_tree)
{
	drpc_ctx *root;
	drpc_ctx *a;
	drpc_ctx *b;
	drpc_ctx *a1;

	DRPC_CHECK_OK(drpc_ctx_create(&root, NULL));
	DRPC_CHECK_OK(drpc_ctx_create(&a, root));
	DRPC_CHECK_OK(drpc_ctx_create(&b, root));
	DRPC_CHECK_OK(drpc_ctx_create(&a1, a));
	drpc_ctx_cancel(b);
	DRPC_CHECK_OK(drpc_ctx_err(root));
	DRPC_CHECK_OK(drpc_ctx_err(a1));
	drpc_ctx_cancel(root);
	DRPC_CHECK_ERR(drpc_ctx_err(a), DRPC_ECANCELED);
	DRPC_CHECK_ERR(drpc_ctx_err(a1), DRPC_ECANCELED);
	drpc_ctx_destroy(a1);
	drpc_ctx_destroy(a);
	drpc_ctx_destroy(b);
	drpc_ctx_destroy(root);
}
END_TEST

// A child of a cancelled parent is born cancelled.
START_TEST(test_ctx_child_of_done)
{
	drpc_ctx *root;
	drpc_ctx *child;

	DRPC_CHECK_OK(drpc_ctx_create(&root, NULL));
	drpc_ctx_cancel(root);
	DRPC_CHECK_OK(drpc_ctx_create(&child, root));
	DRPC_CHECK_ERR(drpc_ctx_err(child), DRPC_ECANCELED);
	drpc_ctx_destroy(child);
	drpc_ctx_destroy(root);
}
END_TEST

// The earlier deadline wins, the parent's or the child's own; a passed
// deadline reads as DeadlineExceeded. (The deadlines that have not passed
// are an hour away: nothing here depends on how long the test takes.)
START_TEST(test_ctx_deadline)
{
	const int64_t hour = 3600 * 1000000000ll;
	drpc_ctx     *root;
	drpc_ctx     *child;
	drpc_ctx     *early;
	drpc_ctx     *late;
	int64_t       now = drpc_now_ns();

	DRPC_CHECK_OK(drpc_ctx_create_deadline(&root, NULL, now + hour));
	DRPC_CHECK_OK(drpc_ctx_create_timeout(&child, root, 2 * 3600 * 1000));
	DRPC_CHECK_OK(drpc_ctx_create_deadline(&early, root, now + hour / 2));
	DRPC_CHECK_OK(drpc_ctx_create_deadline(&late, root, now - 1));
	ck_assert_int_eq(drpc_ctx_deadline(child), now + hour);
	ck_assert_int_eq(drpc_ctx_deadline(early), now + hour / 2);
	ck_assert_int_eq(drpc_ctx_deadline(late), now - 1);
	DRPC_CHECK_OK(drpc_ctx_err(child));
	DRPC_CHECK_OK(drpc_ctx_err(early));
	DRPC_CHECK_ERR(drpc_ctx_err(late), DRPC_ETIMEDOUT);
	DRPC_CHECK_OK(drpc_ctx_err(root));
	drpc_ctx_destroy(late);
	drpc_ctx_destroy(early);
	drpc_ctx_destroy(child);
	drpc_ctx_destroy(root);
	DRPC_CHECK_ERR(drpc_ctx_create(NULL, NULL), DRPC_EINVAL);
	DRPC_CHECK_ERR(drpc_ctx_create_deadline(&root, NULL, -5), DRPC_EINVAL);
}
END_TEST

typedef struct fired {
	int      n;
	drpc_err why;
} fired;

static void
on_fire(void *arg, drpc_err why)
{
	fired *f = arg;

	f->n++;
	f->why = why;
}

// Listeners fire once; an unlinked one never does; listening on a done
// context reports the reason instead of linking.
START_TEST(test_ctx_listeners)
{
	drpc_ctx          *ctx;
	fired              f1 = {0};
	fired              f2 = {0};
	drpc__ctx_listener l1 = {on_fire, &f1, NULL, NULL};
	drpc__ctx_listener l2 = {on_fire, &f2, NULL, NULL};
	drpc__ctx_listener l3 = {on_fire, &f2, NULL, NULL};

	DRPC_CHECK_OK(drpc_ctx_create(&ctx, NULL));
	DRPC_CHECK_OK(drpc__ctx_listen(ctx, &l1));
	DRPC_CHECK_OK(drpc__ctx_listen(ctx, &l2));
	drpc__ctx_unlisten(ctx, &l2);
	drpc_ctx_cancel(ctx);
	drpc_ctx_cancel(ctx);
	ck_assert_int_eq(f1.n, 1);
	ck_assert_int_eq(f1.why, DRPC_ECANCELED);
	ck_assert_int_eq(f2.n, 0);
	DRPC_CHECK_ERR(drpc__ctx_listen(ctx, &l3), DRPC_ECANCELED);
	drpc__ctx_unlisten(ctx, &l1); // after firing: a no-op
	drpc_ctx_destroy(ctx);
}
END_TEST

TU_SUITE(ctx,
    TU_TEST("ctx", test_ctx_cancel),
    TU_TEST("ctx", test_ctx_tree),
    TU_TEST("ctx", test_ctx_child_of_done),
    TU_TEST("ctx", test_ctx_deadline),
    TU_TEST("ctx", test_ctx_listeners))
