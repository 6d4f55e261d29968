package web

import "net/http"

func (s *server) exchangeRoutes(m *http.ServeMux) {}
