// Reference TCP echo server (correct), Java version, written as Java's tutorials do.
//
// Usage: java -cp . EchoServer PORT
//
// new ServerSocket(port, BACKLOG) shows Java's defaults: one socket on [::]:PORT that
// takes IPv4 clients too (their connections are held as ::ffff:127.x.y.z) and
// SO_REUSEADDR set by the runtime (on Linux and macOS). Its one departure from the
// tutorials is the backlog: new ServerSocket(port) asks listen() for only 50, and a
// burst of 100 connections at once does not fit (faulty/default-backlog-server).
// One thread per client copies what it reads back until the client ends its stream,
// then closes; a client that resets its connection only ends its own thread.
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;

public class EchoServer {
    private static final int BACKLOG = 4096; // the kernel caps it at net.core.somaxconn

    private static void serve(Socket client) {
        try (client) {
            InputStream in = client.getInputStream();
            OutputStream out = client.getOutputStream();
            in.transferTo(out); // returns at the client's end of stream
        } catch (IOException e) {
            // The client reset the connection: drop it, the server goes on.
        }
    }

    public static void main(String[] args) {
        if (args.length != 1) {
            System.err.println("usage: java -cp . EchoServer PORT");
            System.exit(2);
        }
        int port;
        try {
            port = Integer.parseInt(args[0]);
        } catch (NumberFormatException e) {
            System.err.println("server: bad port \"" + args[0] + "\"");
            System.exit(2);
            return;
        }
        ServerSocket listener;
        try {
            listener = new ServerSocket(port, BACKLOG);
        } catch (IOException | IllegalArgumentException e) {
            System.err.println("server: cannot listen on [::]:" + port + ": " + e.getMessage());
            System.exit(1);
            return;
        }
        System.err.println("listening on [::]:" + port);
        while (true) {
            try {
                Socket client = listener.accept();
                new Thread(() -> serve(client)).start();
            } catch (IOException e) {
                // Out of descriptors, say: accept fails for now, not for good.
                System.err.println("server: accept: " + e.getMessage());
            }
        }
    }
}
