// Reference TCP echo client (correct), Java version.
//
// Usage: java -cp . EchoClient HOST PORT
//
// Connects once to HOST:PORT with new Socket(host, port) (the OS picks the ephemeral
// source port; the client never binds). A sender thread copies stdin to the socket as
// it is read and, at end of stdin, shuts down the write side (shutdownOutput: the
// server sees the end of stream); meanwhile the main thread prints whatever the server
// echoes as soon as it arrives, however it is split or merged, until the server
// closes, then exits 0. Cannot connect: a message naming HOST:PORT on stderr, exit 1.
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;

public class EchoClient {
    private static volatile IOException sendError;

    private static void fail(String what, IOException e) {
        System.err.println("client: " + what + ": " + e.getMessage());
        System.exit(1);
    }

    public static void main(String[] args) {
        if (args.length != 2) {
            System.err.println("usage: java -cp . EchoClient HOST PORT");
            System.exit(2);
        }
        String address = args[0] + ":" + args[1];
        Socket socket = null;
        try {
            socket = new Socket(args[0], Integer.parseInt(args[1]));
        } catch (IOException e) {
            fail("cannot connect to " + address, e);
        } catch (IllegalArgumentException e) {
            System.err.println("client: bad port \"" + args[1] + "\"");
            System.exit(2);
        }
        Socket connection = socket;
        Thread sender = new Thread(() -> {
            try {
                System.in.transferTo(connection.getOutputStream());
                connection.shutdownOutput();
            } catch (IOException e) {
                sendError = e;
            }
        });
        sender.setDaemon(true); // blocked on stdin when the server closes first
        sender.start();

        byte[] buffer = new byte[65536];
        try {
            InputStream in = connection.getInputStream();
            for (int n; (n = in.read(buffer)) != -1; ) {
                System.out.write(buffer, 0, n);
                System.out.flush();
            }
            // The server closed: the sender has finished, or is still waiting for stdin,
            // which is not worth waiting for any more.
            sender.join(100);
        } catch (IOException e) {
            fail("connection to " + address + " failed", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (sendError != null) {
            fail("connection to " + address + " failed", sendError);
        }
        System.exit(0);
    }
}
