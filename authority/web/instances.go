package web

import "net/http"

func (s *server) instanceRoutes(m *http.ServeMux) {}
