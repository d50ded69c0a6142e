// FAULTY (default-backlog-server): new ServerSocket(port), as Java's tutorials write it,
// asks listen() for Java's default backlog of 50 (ss -ltn: Send-Q 50). Quiz idea it gets
// wrong: the backlog -- a burst of 100 connections at once does not fit in the accept
// queue: the connections beyond it overflow (ListenOverflows). Otherwise it is the
// correct Java server: dual-stack on [::]:PORT, SO_REUSEADDR, a thread per client.
//
// Usage: java -cp . EchoServer PORT
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;

public class EchoServer {
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
            listener = new ServerSocket(port);
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
