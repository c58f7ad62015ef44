package server

// telemetryRoutes are the routes of the telemetry read API (the storage work
// fills them in).
func (s *Server) telemetryRoutes() []route { return nil }
