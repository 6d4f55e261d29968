package web

import "net/http"

func (s *server) portalRoutes(m *http.ServeMux) {}
