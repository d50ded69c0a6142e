// Reference TCP echo server (correct), Go version, written as Go's tutorials do.
//
// Usage: ./server PORT
//
// net.Listen("tcp", ":"+port) shows Go's defaults: one socket on [::]:PORT that takes
// IPv4 clients too (their connections are held as ::ffff:127.x.y.z), SO_REUSEADDR set
// by the runtime, and a listen backlog of net.core.somaxconn (4096 on current kernels).
// One goroutine per connection copies what it reads back with io.Copy until the
// client ends its stream, then closes. A client that resets its connection only ends
// that goroutine's io.Copy with an error: the server goes on.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
)

func serve(conn net.Conn) {
	defer conn.Close()
	// An error here is the client's (a reset, a broken pipe): drop its connection only.
	io.Copy(conn, conn)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: server PORT")
		os.Exit(2)
	}
	port := os.Args[1]
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		fmt.Fprintf(os.Stderr, "server: bad port %q\n", port)
		os.Exit(2)
	}
	listener, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Fprintf(os.Stderr, "server: cannot listen on [::]:%s: %v\n", port, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "listening on [::]:%s\n", port)
	for {
		conn, err := listener.Accept()
		if err != nil {
			// Out of descriptors, say: Accept fails for now, not for good.
			fmt.Fprintf(os.Stderr, "server: accept: %v\n", err)
			continue
		}
		go serve(conn)
	}
}
