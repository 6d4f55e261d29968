package web

import "net/http"

func (s *server) deskRoutes(m *http.ServeMux) {}
