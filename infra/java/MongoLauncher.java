// Starts mongo-java-server (in-memory backend) for changeflow's local infrastructure.
// Run in Java's source-file mode:
//   java -cp "<jars>/*" MongoLauncher.java <host> <port> <version> <wireVersion> [<oplogMaxEntries>]
// Prints "LISTENING <host>:<port>" once bound, then serves until killed.
//
// mongo-java-server's own version enum tops out at wire version 8, below what the 7.x Node driver
// accepts (9 = MongoDB 4.4). The server uses the version only for what hello/buildInfo report, so we
// report 4.4 by default; what the server really implements is documented in docs/testing.md.
//
// mongo-java-server keeps its oplog (local.oplog.rs) as an ordinary collection that only grows, and
// opening a change stream scans it; a real replica set caps the oplog. We cap it too: every few
// seconds the oldest entries beyond <oplogMaxEntries> (default 250,000) are removed.
import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.bson.Document;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

public class MongoLauncher {
    public static void main(String[] args) throws Exception {
        String host = args.length > 0 ? args[0] : "127.0.0.1";
        int port = args.length > 1 ? Integer.parseInt(args[1]) : 0;
        String versionString = args.length > 2 ? args[2] : "4.4.0";
        int wireVersion = args.length > 3 ? Integer.parseInt(args[3]) : 9;
        int oplogMaxEntries = args.length > 4 ? Integer.parseInt(args[4]) : 250_000;
        List<Integer> versionArray = new ArrayList<>();
        for (String part : versionString.split("\\.")) versionArray.add(Integer.parseInt(part));

        MemoryBackend backend = new MemoryBackend();
        backend.version(new MongoVersion() {
            public List<Integer> getVersionArray() { return versionArray; }
            public int getWireVersion() { return wireVersion; }
        });
        MongoServer server = new MongoServer(backend);
        server.enableOplog(); // change streams read the oplog
        server.bind(new InetSocketAddress(host, port));
        InetSocketAddress bound = server.getLocalAddress();
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow));
        ScheduledExecutorService trimmer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "oplog-trimmer");
            t.setDaemon(true);
            return t;
        });
        trimmer.scheduleWithFixedDelay(() -> trimOplog(backend, oplogMaxEntries), 5, 5, TimeUnit.SECONDS);
        System.out.println("LISTENING " + bound.getHostString() + ":" + bound.getPort());
        System.out.flush();
        Thread.currentThread().join();
    }

    /** Removes the oldest oplog entries beyond {@code maxEntries}, as a capped oplog would. */
    private static void trimOplog(MemoryBackend backend, int maxEntries) {
        try {
            MongoCollection<?> oplog = backend.resolveDatabase("local").resolveCollection("oplog.rs", false);
            if (oplog == null) return;
            int excess = oplog.count() - maxEntries;
            if (excess <= 0) return;
            Object cutoff = oplog.queryAllAsStream().skip(excess).findFirst().map(d -> d.get("ts")).orElse(null);
            if (cutoff == null) return;
            int removed = oplog.deleteDocuments(new Document("ts", new Document("$lt", cutoff)), 0);
            System.out.println("oplog trimmed: removed " + removed + " oldest entries (cap " + maxEntries + ")");
        } catch (RuntimeException e) {
            System.out.println("oplog trim skipped: " + e);
        }
    }
}
