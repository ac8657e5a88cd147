// The health service (include/drpc/health.h): a table of statuses by
// service name under one mutex, Check answering from it, and Watch
// handlers that sleep on a condition variable until their service's
// status changes, their RPC ends, or the service shuts down.
//
// Lock order: a context's mu (its listener's callback, health_cancelled)
// before h->mu. Nothing of a stream or context is called with h->mu held.
#include <stdlib.h>
#include <string.h>

#include <drpc/health.h>
#include <drpc/pb.h>

#include "ctx/ctx.h"
#include "health.pb-c.h"
#include "platform/thread.h"

typedef struct health_svc {
	char              *name;
	drpc_health_status status;
	struct health_svc *next;
} health_svc;

struct drpc_health {
	pthread_mutex_t mu;
	pthread_cond_t  cv; // watchers wait here for a change
	// Guarded by mu:
	health_svc *svcs;
	bool        shut; // NOT_SERVING for good; watchers end
};

drpc_err
drpc_health_create(drpc_health **hp)
{
	drpc_health *h;

	if (hp == NULL) {
		return DRPC_EINVAL;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		return DRPC_ENOMEM;
	}
	drpc__mutex_init(&h->mu);
	drpc__cond_init(&h->cv);
	if (drpc_health_set(h, "", DRPC_HEALTH_SERVING) != DRPC_OK) {
		drpc_health_destroy(h);
		return DRPC_ENOMEM;
	}
	*hp = h;
	return DRPC_OK;
}

static health_svc *
health_find_locked(drpc_health *h, const char *name)
{
	for (health_svc *v = h->svcs; v != NULL; v = v->next) {
		if (strcmp(v->name, name) == 0) {
			return v;
		}
	}
	return NULL;
}

static drpc_health_status
health_status_locked(drpc_health *h, const char *name)
{
	health_svc *v = health_find_locked(h, name);

	return v != NULL ? v->status : DRPC_HEALTH_SERVICE_UNKNOWN;
}

drpc_err
drpc_health_set(drpc_health *h, const char *service, drpc_health_status status)
{
	health_svc *v;
	drpc_err    rv = DRPC_OK;

	if (h == NULL || service == NULL ||
	    (status != DRPC_HEALTH_SERVING && status != DRPC_HEALTH_NOT_SERVING &&
		status != DRPC_HEALTH_UNKNOWN)) {
		return DRPC_EINVAL;
	}
	drpc__mutex_lock(&h->mu);
	if (h->shut) {
		rv = DRPC_ESTATE;
	} else if ((v = health_find_locked(h, service)) != NULL) {
		v->status = status;
	} else if ((v = calloc(1, sizeof(*v))) == NULL ||
		   (v->name = strdup(service)) == NULL) {
		free(v);
		rv = DRPC_ENOMEM;
	} else {
		v->status = status;
		v->next   = h->svcs;
		h->svcs   = v;
	}
	if (rv == DRPC_OK) {
		drpc__cond_broadcast(&h->cv);
	}
	drpc__mutex_unlock(&h->mu);
	return rv;
}

drpc_health_status
drpc_health_get(drpc_health *h, const char *service)
{
	drpc_health_status st;

	if (h == NULL || service == NULL) {
		return DRPC_HEALTH_SERVICE_UNKNOWN;
	}
	drpc__mutex_lock(&h->mu);
	st = health_status_locked(h, service);
	drpc__mutex_unlock(&h->mu);
	return st;
}

void
drpc_health_shutdown(drpc_health *h)
{
	if (h == NULL) {
		return;
	}
	drpc__mutex_lock(&h->mu);
	h->shut = true;
	for (health_svc *v = h->svcs; v != NULL; v = v->next) {
		v->status = DRPC_HEALTH_NOT_SERVING;
	}
	drpc__cond_broadcast(&h->cv);
	drpc__mutex_unlock(&h->mu);
}

static void
health_on_shutdown(void *arg, bool graceful)
{
	(void) graceful; // either way: the server stops serving
	drpc_health_shutdown(arg);
}

drpc_err
drpc_health_attach(drpc_health *h, drpc_server *s)
{
	if (h == NULL) {
		return DRPC_EINVAL;
	}
	return drpc_server_on_shutdown(s, health_on_shutdown, h);
}

// health_request receives the request's service name (a copy in *name,
// the caller frees it).
static drpc_err
health_request(drpc_stream *s, char **name)
{
	ProtobufCMessage              *m;
	Drpc__Health__HealthCheckRequest *req;
	drpc_err                       rv;

	rv = drpc_stream_recv_msg(
	    s, &drpc__health__health_check_request__descriptor, &m);
	if (rv != DRPC_OK) {
		return rv;
	}
	req   = (Drpc__Health__HealthCheckRequest *) m;
	*name = strdup(req->service != NULL ? req->service : "");
	protobuf_c_message_free_unpacked(m, NULL);
	return *name != NULL ? DRPC_OK : DRPC_ENOMEM;
}

static drpc_err
health_send(drpc_stream *s, drpc_health_status st, bool last)
{
	Drpc__Health__HealthCheckResponse resp =
	    DRPC__HEALTH__HEALTH_CHECK_RESPONSE__INIT;

	resp.status = (Drpc__Health__HealthCheckResponse__ServingStatus) st;
	return last ? drpc_stream_send_msg_last(s, &resp.base)
		    : drpc_stream_send_msg(s, &resp.base);
}

static drpc_err
health_check(drpc_stream *s, void *user)
{
	drpc_health       *h = user;
	char              *name;
	drpc_health_status st;
	drpc_err           rv;

	if ((rv = health_request(s, &name)) != DRPC_OK) {
		return rv;
	}
	drpc__mutex_lock(&h->mu);
	st = health_status_locked(h, name);
	drpc__mutex_unlock(&h->mu);
	free(name);
	if (st == DRPC_HEALTH_SERVICE_UNKNOWN) {
		(void) drpc_stream_set_error(s, DRPC_ENOTFOUND, "unknown service");
		return DRPC_ENOTFOUND;
	}
	return health_send(s, st, true);
}

// A Watch handler's wait: its context's listener ends it.
typedef struct health_watch {
	drpc__ctx_listener l;
	drpc_health       *h;
	bool               done; // guarded by h->mu: the RPC ended
} health_watch;

static void
health_cancelled(void *arg, drpc_err why)
{
	health_watch *w = arg;

	(void) why;
	drpc__mutex_lock(&w->h->mu);
	w->done = true;
	drpc__cond_broadcast(&w->h->cv);
	drpc__mutex_unlock(&w->h->mu);
}

static drpc_err
health_watch_fn(drpc_stream *s, void *user)
{
	drpc_health       *h   = user;
	drpc_ctx          *ctx = drpc_stream_ctx(s);
	health_watch       w   = {{health_cancelled, NULL, NULL, NULL}, h, false};
	int64_t            dl  = drpc_ctx_deadline(ctx); // 0: none
	drpc_health_status last = DRPC_HEALTH_UNKNOWN;
	bool               sent = false;
	char              *name;
	drpc_err           rv;

	if ((rv = health_request(s, &name)) != DRPC_OK) {
		return rv;
	}
	w.l.arg = &w;
	if (drpc__ctx_listen(ctx, &w.l) != DRPC_OK) {
		free(name);
		return DRPC_OK; // the client is gone already
	}
	drpc__mutex_lock(&h->mu);
	while (rv == DRPC_OK && !w.done) {
		drpc_health_status st = health_status_locked(h, name);
		bool               shut = h->shut;

		if (!sent || st != last) {
			drpc__mutex_unlock(&h->mu);
			rv = health_send(s, st, false);
			drpc__mutex_lock(&h->mu);
			sent = true;
			last = st;
			continue; // it may have changed meanwhile
		}
		if (shut) {
			break; // its last status went out
		}
		// The RPC's deadline ends it too: its context fires only when
		// asked (drpc_ctx_err, below, without h->mu: lock order).
		if (drpc__cond_wait_until(&h->cv, &h->mu, dl) ==
		    DRPC_ETIMEDOUT) {
			break;
		}
	}
	drpc__mutex_unlock(&h->mu);
	drpc__ctx_unlisten(ctx, &w.l);
	free(name);
	// A client that cancels its Watch (or goes) is how a watch usually
	// ends: no failure to report, and nobody to tell.
	return drpc_ctx_err(ctx) != DRPC_OK ? DRPC_OK : rv;
}

drpc_err
drpc_health_register(drpc_health *h, drpc_mux *m)
{
	drpc_err rv;

	if (h == NULL || m == NULL) {
		return DRPC_EINVAL;
	}
	if ((rv = drpc_mux_register(m, DRPC_HEALTH_CHECK, health_check, h)) !=
	    DRPC_OK) {
		return rv;
	}
	return drpc_mux_register(m, DRPC_HEALTH_WATCH, health_watch_fn, h);
}

void
drpc_health_destroy(drpc_health *h)
{
	if (h == NULL) {
		return;
	}
	while (h->svcs != NULL) {
		health_svc *next = h->svcs->next;

		free(h->svcs->name);
		free(h->svcs);
		h->svcs = next;
	}
	drpc__cond_fini(&h->cv);
	drpc__mutex_fini(&h->mu);
	free(h);
}
