package server

// alarmRoutes are the routes of the alarm API (the processing-nodes work
// fills them in).
func (s *Server) alarmRoutes() []route { return nil }
