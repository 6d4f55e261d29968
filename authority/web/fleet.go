package web

import "net/http"

func (s *server) fleetRoutes(m *http.ServeMux) {}
