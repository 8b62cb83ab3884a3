package vcdsim

// DropBrokerConnections closes the relay's connections to RabbitMQ, as a broker restart
// does, so that a test can see the next call connect anew.
func (s *Server) DropBrokerConnections() {
	s.ext.mu.Lock()
	defer s.ext.mu.Unlock()
	for _, l := range s.ext.links {
		l.close()
	}
}
