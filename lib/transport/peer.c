// Peer identity (include/drpc/peer.h): what a transport knows of its
// peer, and copies of it for the callers.
#include <stdlib.h>
#include <string.h>

#include "transport/addr.h"
#include "transport/transport.h"

void
drpc_peer_reset(drpc_peer *p)
{
	if (p == NULL) {
		return;
	}
	free(p->subject);
	for (size_t i = 0; i < p->nsans; i++) {
		free(p->sans[i]);
	}
	free(p->sans);
	free(p->der);
	memset(p, 0, sizeof(*p));
}

// peer_strdup copies s (NULL stays NULL); false when out of memory.
static bool
peer_strdup(char **dst, const char *s)
{
	size_t len;

	*dst = NULL;
	if (s == NULL) {
		return true;
	}
	len = strlen(s) + 1;
	if ((*dst = malloc(len)) == NULL) {
		return false;
	}
	memcpy(*dst, s, len);
	return true;
}

drpc_err
drpc__peer_copy(drpc_peer *dst, const drpc_peer *src)
{
	memset(dst, 0, sizeof(*dst));
	memcpy(dst->addr, src->addr, sizeof(dst->addr));
	dst->addr[sizeof(dst->addr) - 1] = '\0';
	dst->tls      = src->tls;
	dst->verified = src->verified;
	if (!peer_strdup(&dst->subject, src->subject)) {
		goto nomem;
	}
	if (src->nsans > 0 && src->sans != NULL) {
		if ((dst->sans = calloc(src->nsans, sizeof(char *))) == NULL) {
			goto nomem;
		}
		for (; dst->nsans < src->nsans; dst->nsans++) {
			if (!peer_strdup(&dst->sans[dst->nsans],
			        src->sans[dst->nsans])) {
				goto nomem;
			}
		}
	}
	if (src->der_len > 0 && src->der != NULL) {
		if ((dst->der = malloc(src->der_len)) == NULL) {
			goto nomem;
		}
		memcpy(dst->der, src->der, src->der_len);
		dst->der_len = src->der_len;
	}
	return DRPC_OK;

nomem:
	drpc_peer_reset(dst);
	return DRPC_ENOMEM;
}

drpc_err
drpc__transport_peer(drpc_transport *t, drpc_peer *out)
{
	drpc_err rv = DRPC_OK;
	int      fd;

	memset(out, 0, sizeof(*out));
	if (t->peer != NULL) {
		if ((rv = t->peer(t->impl, out)) != DRPC_OK) {
			drpc_peer_reset(out);
		}
		out->addr[sizeof(out->addr) - 1] = '\0';
	} else if ((fd = drpc__transport_fd(t)) >= 0 &&
	    drpc__peer_addr(fd, out->addr, sizeof(out->addr)) != DRPC_OK) {
		out->addr[0] = '\0'; // not a socket, or no name: unknown
	}
	return rv;
}
