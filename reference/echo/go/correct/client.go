// Reference TCP echo client (correct), Go version.
//
// Usage: ./client HOST PORT
//
// Connects once to HOST:PORT with net.Dial (the OS picks the ephemeral source port; the
// client never binds). A goroutine copies stdin to the socket line by line and, at end
// of stdin, shuts down the write side (CloseWrite: the server sees the end of stream);
// meanwhile the main goroutine prints whatever the server echoes as soon as it arrives,
// however it is split or merged, until the server closes, then exits 0. Cannot connect:
// a message naming HOST:PORT on stderr, exit 1.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
)

// send writes stdin to the socket a line at a time, then ends the stream.
func send(conn *net.TCPConn, done chan<- error) {
	input := bufio.NewReader(os.Stdin)
	for {
		line, readErr := input.ReadBytes('\n')
		if len(line) > 0 {
			if _, err := conn.Write(line); err != nil {
				done <- err
				return
			}
		}
		if readErr == io.EOF {
			done <- conn.CloseWrite()
			return
		}
		if readErr != nil {
			done <- readErr
			return
		}
	}
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: client HOST PORT")
		os.Exit(2)
	}
	address := net.JoinHostPort(os.Args[1], os.Args[2])
	conn, err := net.Dial("tcp", address)
	if err != nil {
		fmt.Fprintf(os.Stderr, "client: cannot connect to %s: %v\n", address, err)
		os.Exit(1)
	}
	tcp := conn.(*net.TCPConn)
	sent := make(chan error, 1)
	go send(tcp, sent)

	// os.Stdout is unbuffered in Go: each echo is printed as soon as it arrives.
	_, err = io.Copy(os.Stdout, tcp)
	if err != nil {
		fmt.Fprintf(os.Stderr, "client: connection to %s failed: %v\n", address, err)
		os.Exit(1)
	}
	select {
	case err = <-sent:
		if err != nil {
			fmt.Fprintf(os.Stderr, "client: connection to %s failed: %v\n", address, err)
			os.Exit(1)
		}
	default:
		// The server closed before stdin ended: stop now rather than wait for more input.
	}
	tcp.Close()
}
