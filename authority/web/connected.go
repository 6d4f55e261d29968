package web

import "net/http"

func (s *server) connectedRoutes(m *http.ServeMux) {}
