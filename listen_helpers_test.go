package main

// listenHelper runs the worker modes of the socket tests.
func listenHelper(mode string) (int, bool) {
	return 0, false
}
