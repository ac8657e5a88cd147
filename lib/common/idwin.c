#include <string.h>

#include "common/idwin.h"

static bool
idwin_bit(const drpc__idwin *w, uint64_t id)
{
	uint64_t i = id % DRPC__IDWIN_SPAN;

	return (w->bits[i / 64] >> (i % 64)) & 1;
}

bool
drpc__idwin_taken(const drpc__idwin *w, uint64_t id)
{
	if (id == 0) {
		return true;
	}
	if (id > w->top) {
		return false;
	}
	return w->top - id >= DRPC__IDWIN_SPAN || idwin_bit(w, id);
}

void
drpc__idwin_take(drpc__idwin *w, uint64_t id)
{
	uint64_t i;

	if (id > w->top) {
		// Ids between the old top and id are new: clear their bits
		// (all of them if the window moves by a whole span).
		if (id - w->top >= DRPC__IDWIN_SPAN) {
			memset(w->bits, 0, sizeof(w->bits));
		} else {
			for (uint64_t j = w->top + 1; j < id; j++) {
				i = j % DRPC__IDWIN_SPAN;
				w->bits[i / 64] &= ~((uint64_t) 1 << (i % 64));
			}
		}
		w->top = id;
	}
	i = id % DRPC__IDWIN_SPAN;
	w->bits[i / 64] |= (uint64_t) 1 << (i % 64);
}
