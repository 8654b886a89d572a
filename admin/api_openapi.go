package admin

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPIDocument describes every route of apiRoutes; a test checks the two
// agree, path by path and method by method.
//
//go:embed openapi.json
var openAPIDocument []byte

// getOpenAPI serves the OpenAPI 3.0 document, without authentication:
// it describes the API, it reveals nothing of what the API holds.
func (s *Server) getOpenAPI(c *call) error {
	c.w.Header().Set("Content-Type", "application/json")
	c.w.Header().Set("Content-Length", strconv.Itoa(len(openAPIDocument)))
	c.w.WriteHeader(http.StatusOK)
	c.written = true
	_, _ = c.w.Write(openAPIDocument)
	return nil
}
