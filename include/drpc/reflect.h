// Server reflection: a service that tells clients (the `drpc` tool, say)
// which services a server offers and the .proto descriptors that define
// them, so that they can call it without the .proto files. Modelled on
// gRPC's server reflection; the wire names and messages are in
// docs/protocol.md §17.
//
// protoc-gen-drpc-c writes, for every .proto with services, a function
// returning its drpc_reflect_file (docs/codegen.md, "Reflection"). A
// server adds those of the services it registers:
//
//   drpc_reflect *r;
//   drpc_reflect_create(&r);
//   drpc_reflect_add(r, drpc_gen_demo_2eproto_reflect());
//   drpc_reflect_register(r, mux);        // before the mux is served
//   ... serve, shut down, destroy the servers ...
//   drpc_reflect_destroy(r);
//
// Ownership: the drpc_reflect_file structs are borrowed (generated ones
// are static data); the reflection object must outlive every server using
// a mux it was registered in.
//
// Thread safety: drpc_reflect_add and drpc_reflect_register must finish
// before the mux is served, as drpc_mux_register must; after that the
// object is read-only and its handlers run on any number of threads.
#ifndef DRPC_REFLECT_H
#define DRPC_REFLECT_H

#include <stddef.h>

#include <drpc/error.h>
#include <drpc/server.h>

#ifdef __cplusplus
extern "C" {
#endif

// The methods the reflection service registers (docs/protocol.md §17).
#define DRPC_REFLECT_SERVICE "drpc.reflection.v1.Reflection"
#define DRPC_REFLECT_LIST_SERVICES \
	"/drpc.reflection.v1.Reflection/ListServices"
#define DRPC_REFLECT_FILE_CONTAINING_SYMBOL \
	"/drpc.reflection.v1.Reflection/FileContainingSymbol"
#define DRPC_REFLECT_FILE_BY_FILENAME \
	"/drpc.reflection.v1.Reflection/FileByFilename"

// drpc_reflect_file is one .proto file: its name as imports spell it
// ("dir/foo.proto"), its FileDescriptorProto serialized (descriptor_len
// bytes), the files it imports (deps: each a drpc_reflect_file of its
// own), the full names of the services it defines ("pkg.Svc"), and of
// every symbol a client may ask for: its messages and enums (nested ones
// as "pkg.Outer.Inner"), services and methods ("pkg.Svc.Method").
typedef struct drpc_reflect_file {
	const char                             *name;
	const void                             *descriptor;
	size_t                                  descriptor_len;
	const struct drpc_reflect_file *const *deps;
	size_t                                  n_deps;
	const char *const                      *services;
	size_t                                  n_services;
	const char *const                      *symbols;
	size_t                                  n_symbols;
} drpc_reflect_file;

typedef struct drpc_reflect drpc_reflect;

// drpc_reflect_create makes an empty reflection service. Errors:
// DRPC_EINVAL (rp NULL), DRPC_ENOMEM.
DRPC_API drpc_err drpc_reflect_create(drpc_reflect **rp);

// drpc_reflect_add adds f (borrowed) and, through deps, every file it
// imports. f's services are the ones ListServices names (its imports'
// are not, unless they are added themselves). A file whose name was added
// before is kept as first added. All or nothing: on an error, r is as it
// was before the call (none of f's imports stays added). Errors:
// DRPC_EINVAL (NULL, a file or import without a name or descriptor),
// DRPC_ESTATE (after drpc_reflect_register), DRPC_ENOMEM.
DRPC_API drpc_err drpc_reflect_add(drpc_reflect *r, const drpc_reflect_file *f);

// drpc_reflect_register registers the service's three methods in mux.
// Errors: DRPC_EINVAL (NULL), DRPC_ESTATE (registered already), those of
// drpc_mux_register (DRPC_EEXIST: a reflection service is there already).
DRPC_API drpc_err drpc_reflect_register(drpc_reflect *r, drpc_mux *mux);

// drpc_reflect_destroy frees r (NULL is a no-op), once no server uses a
// mux it was registered in.
DRPC_API void drpc_reflect_destroy(drpc_reflect *r);

#ifdef __cplusplus
}
#endif

#endif // DRPC_REFLECT_H
