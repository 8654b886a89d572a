// Package admin owns the operators' surfaces: the admin REST API under
// /admin/api/v1, the server-rendered web dashboard under /admin/, and the
// authentication of operators (bearer tokens with roles, dashboard sessions,
// CSRF protection), with every mutation and every refusal written to the
// audit trail.
//
// It must not know JWS or any other part of the ACME wire protocol: it reads
// storage and calls the protocol layer's operator entry points (approvals,
// EAB keys, runtime directories, revocation).
package admin
