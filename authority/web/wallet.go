package web

import "net/http"

func (s *server) walletRoutes(m *http.ServeMux) {}
