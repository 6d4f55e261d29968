package web

import "net/http"

func (s *server) historyRoutes(m *http.ServeMux) {}
