// Starts mongo-java-server (in-memory backend) for changeflow's local infrastructure.
// Run in Java's source-file mode:
//   java -cp "<jars>/*" MongoLauncher.java [--data-file <path>] <host> <port> <version> <wireVersion> [<oplogMaxEntries>]
// Prints "LISTENING <host>:<port>" once bound, then serves until killed.
//
// --data-file keeps the data in an H2 MVStore file instead of memory, so a SIGKILLed server comes back
// with its data (the fault soak kills A and B). Every command is committed before its reply (MVStore
// commits only once a second by itself, so a kill would lose acknowledged writes), and the oplog
// entries are stored in the file too, so change streams resume across a restart. Without the flag
// nothing changes: memory, as `changeflow dev` and the tests use.
//
// mongo-java-server's own version enum tops out at wire version 8, below what the 7.x Node driver
// accepts (9 = MongoDB 4.4). The server uses the version only for what hello/buildInfo report, so we
// report 4.4 by default; what the server really implements is documented in docs/testing.md.
//
// mongo-java-server keeps its oplog (local.oplog.rs) as an ordinary collection that only grows, and
// every change-stream read (each getMore) scans and sorts all of it: reads get slower as history grows.
// Two mends, both below: IndexedOplog keeps the entries in a map ordered by timestamp instead (the
// collection stays empty), so a read starts where its cursor stands; and, as a real replica set caps
// its oplog, every few seconds the oldest entries beyond <oplogMaxEntries> (default 250,000) are removed.
import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.Cursor;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.Utils;
import de.bwaldvogel.mongo.backend.aggregation.Aggregation;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.bson.BsonTimestamp;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.oplog.CollectionBackedOplog;
import de.bwaldvogel.mongo.oplog.Oplog;
import de.bwaldvogel.mongo.oplog.OplogCursor;
import de.bwaldvogel.mongo.oplog.OplogPosition;
import io.netty.channel.Channel;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentNavigableMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.function.Function;
import java.util.stream.Stream;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

public class MongoLauncher {
    public static void main(String[] argv) throws Exception {
        List<String> rest = new ArrayList<>(List.of(argv));
        String dataFile = null;
        int flag = rest.indexOf("--data-file");
        if (flag >= 0) {
            if (flag + 1 >= rest.size()) throw new IllegalArgumentException("--data-file needs a path");
            dataFile = rest.get(flag + 1);
            rest.subList(flag, flag + 2).clear();
        }
        String[] args = rest.toArray(new String[0]);
        String host = args.length > 0 ? args[0] : "127.0.0.1";
        int port = args.length > 1 ? Integer.parseInt(args[1]) : 0;
        String versionString = args.length > 2 ? args[2] : "4.4.0";
        int wireVersion = args.length > 3 ? Integer.parseInt(args[3]) : 9;
        int oplogMaxEntries = args.length > 4 ? Integer.parseInt(args[4]) : 250_000;
        List<Integer> versionArray = new ArrayList<>();
        for (String part : versionString.split("\\.")) versionArray.add(Integer.parseInt(part));

        OplogTrimming backend = dataFile == null ? new IndexedOplogBackend() : new DurableH2Backend(dataFile);
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
        System.out.println("oplog reads: " + backend.oplogKind());
        System.out.println("LISTENING " + bound.getHostString() + ":" + bound.getPort());
        System.out.flush();
        Thread.currentThread().join();
    }

    /** Removes the oldest oplog entries beyond {@code maxEntries}, as a capped oplog would. */
    private static void trimOplog(OplogTrimming backend, int maxEntries) {
        try {
            long started = System.nanoTime();
            int removed = backend.trimOplog(maxEntries);
            if (removed > 0) {
                System.out.println("oplog trimmed: removed " + removed + " oldest entries (cap " + maxEntries + ") in "
                    + (System.nanoTime() - started) / 1_000_000 + " ms");
            }
        } catch (RuntimeException e) {
            System.out.println("oplog trim skipped: " + e);
        }
    }
}

/** A backend whose oplog the launcher caps and reports on. */
interface OplogTrimming extends MongoBackend {
    int trimOplog(int maxEntries);
    String oplogKind();
}

/**
 * The H2 backend on a file, committed after every command (so an acknowledged write survives a
 * SIGKILL: the page cache has it, no fsync needed for a process kill), with {@link IndexedOplog}
 * storing its entries in the file's local.oplog.rs as well and reading them back at start.
 */
class DurableH2Backend extends H2Backend implements OplogTrimming {
    private IndexedOplog indexed;

    DurableH2Backend(String fileName) {
        super(fileName);
        // A commit per command writes a chunk per command; kept for the default 45 s, they bloated the
        // file to 300 MB after 8,000 writes and a restart then took over 30 s. Reusing their space at
        // once is safe against a process kill (the page cache keeps the write order); only a power
        // failure could catch a chunk half overwritten, which the soak does not do.
        getMvStore().setRetentionTime(0);
    }

    @Override
    @SuppressWarnings("unchecked")
    protected Oplog createOplog() {
        MongoDatabase local = resolveDatabase("local");
        MongoCollection<Document> collection = (MongoCollection<Document>) local.resolveCollection("oplog.rs", false);
        if (collection == null) collection = (MongoCollection<Document>) local.createCollectionOrThrowIfExists("oplog.rs");
        try {
            indexed = new IndexedOplog(this, collection, getCursorRegistry(), true);
        } catch (ReflectiveOperationException e) {
            // Without it the stock oplog would work but its clock restarts unaware of the stored entries.
            throw new IllegalStateException("the indexed oplog cannot be built on this mongo-java-server version", e);
        }
        commit();
        return indexed;
    }

    @Override
    public Document handleCommand(Channel channel, String databaseName, String command, Document query) {
        try {
            return super.handleCommand(channel, databaseName, command, query);
        } finally {
            commit();
        }
    }

    public int trimOplog(int maxEntries) {
        int removed = indexed == null ? 0 : indexed.keepNewest(maxEntries);
        if (removed > 0) commit();
        return removed;
    }

    public String oplogKind() {
        return "indexed by timestamp, stored in the data file (" + indexed.size() + " entries read back)";
    }
}

/** The memory backend with {@link IndexedOplog} in place of the stock oplog when it can be built. */
class IndexedOplogBackend extends MemoryBackend implements OplogTrimming {
    private IndexedOplog indexed;
    private String fallbackReason;

    @Override
    @SuppressWarnings("unchecked")
    protected Oplog createOplog() {
        MongoDatabase local = resolveDatabase("local");
        MongoCollection<Document> collection = (MongoCollection<Document>) local.resolveCollection("oplog.rs", false);
        if (collection == null) collection = (MongoCollection<Document>) local.createCollectionOrThrowIfExists("oplog.rs");
        try {
            indexed = new IndexedOplog(this, collection, getCursorRegistry(), false);
            return indexed;
        } catch (ReflectiveOperationException | RuntimeException e) {
            // A mongo-java-server version whose internals differ: keep its own oplog (correct, only slower).
            fallbackReason = e.toString();
            return new CollectionBackedOplog(this, collection, getCursorRegistry());
        }
    }

    public String oplogKind() {
        return indexed != null ? "indexed by timestamp" : "stock full scan (" + fallbackReason + ")";
    }

    /**
     * Keeps the newest {@code maxEntries} oplog entries; returns how many were removed. The indexed
     * oplog drops its oldest map entries (cheap, any time). The stock oplog deletes from its collection,
     * a scan of all of it, so it waits until the excess is a tenth of the cap; its cutoff comes from the
     * timestamps, not the collection's order (the memory backend reuses the slots of removed documents,
     * so after a trim new entries sit among old ones).
     */
    public int trimOplog(int maxEntries) {
        if (indexed != null) return indexed.keepNewest(maxEntries);
        MongoCollection<?> oplog = resolveDatabase("local").resolveCollection("oplog.rs", false);
        if (oplog == null) return 0;
        int excess = oplog.count() - maxEntries;
        if (excess <= Math.max(1, maxEntries / 10)) return 0;
        BsonTimestamp cutoff = oplog.queryAllAsStream().map(d -> (BsonTimestamp) d.get("ts")).sorted().skip(excess).findFirst().orElse(null);
        if (cutoff == null) return 0;
        return oplog.deleteDocuments(new Document("ts", new Document("$lt", cutoff)), 0);
    }
}

/**
 * mongo-java-server's oplog, with its entries kept in a map ordered by timestamp instead of its
 * collection. The stock oplog answers each change-stream read by filtering and sorting the whole oplog
 * collection; here a read walks the map from the cursor's position, so its cost is what it returns,
 * not the history. Writing entries and shaping change events stay the library's own (the stock oplog
 * writes through a collection proxy that puts the entries into the map, and its private event builder
 * is called by reflection), so events are exactly what the stock oplog would return. `local.oplog.rs`
 * itself stays empty.
 */
class IndexedOplog implements Oplog {
    private final CollectionBackedOplog stock;
    private final CursorRegistry cursorRegistry;
    private final ConcurrentSkipListMap<BsonTimestamp, Document> entries = new ConcurrentSkipListMap<>();
    /**
     * Held from taking an entry's timestamp until the entry is in the map. Without it, two writes on
     * different connections could land out of timestamp order, a read between them would move its
     * cursor past the later one, and the earlier one would never be returned (a lost change event; the
     * stock oplog has the same race).
     */
    private final Object writeLock = new Object();
    private final Method toChangeEvent;
    private final Field positionTimestamp;
    private final Object clock;
    private final Method clockNow;
    private final Constructor<?> invalidateCursor;
    /** Entries also go to (and are trimmed from) the oplog collection, read back at start: a durable backend. */
    private final MongoCollection<Document> stored;

    IndexedOplog(MongoBackend backend, MongoCollection<Document> collection, CursorRegistry cursorRegistry, boolean persist) throws ReflectiveOperationException {
        this.cursorRegistry = cursorRegistry;
        this.stored = persist ? collection : null;
        if (persist) collection.queryAllAsStream().forEach(entry -> entries.put((BsonTimestamp) entry.get("ts"), entry));
        this.stock = new CollectionBackedOplog(backend, recordingProxy(collection), cursorRegistry);
        toChangeEvent = CollectionBackedOplog.class.getDeclaredMethod("toChangeStreamResponseDocument", Document.class, Document.class);
        toChangeEvent.setAccessible(true);
        positionTimestamp = OplogPosition.class.getDeclaredField("timestamp");
        positionTimestamp.setAccessible(true);
        Field clockField = CollectionBackedOplog.class.getDeclaredField("oplogClock");
        clockField.setAccessible(true);
        clock = clockField.get(stock);
        clockNow = clock.getClass().getDeclaredMethod("now");
        clockNow.setAccessible(true);
        invalidateCursor = Class.forName("de.bwaldvogel.mongo.oplog.InvalidateOplogCursor").getDeclaredConstructor(OplogPosition.class);
        invalidateCursor.setAccessible(true);
    }

    @SuppressWarnings("unchecked")
    private MongoCollection<Document> recordingProxy(MongoCollection<Document> target) {
        return (MongoCollection<Document>) Proxy.newProxyInstance(MongoCollection.class.getClassLoader(), new Class<?>[] { MongoCollection.class }, (proxy, method, args) -> {
            // Entries are kept in the map only: the stock oplog never reads its collection back when
            // reads go through this class, and trimming a map is cheap where deleting from the
            // collection scanned all of it (0.5-1.3 s per trim, a latency spike for every client).
            if (method.getName().equals("addDocument") && args != null && args.length == 1) {
                record((Document) args[0]);
                return null;
            } else if (method.getName().equals("addDocuments") && args != null && args.length == 1 && args[0] instanceof Stream) {
                ((Stream<Document>) args[0]).forEach(this::record);
                return null;
            }
            try {
                return method.invoke(target, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        });
    }

    private void record(Document entry) {
        entries.put((BsonTimestamp) entry.get("ts"), entry);
        if (stored != null) stored.addDocument(entry);
    }

    int size() {
        return entries.size();
    }

    /** Removes the oldest entries beyond {@code maxEntries}; returns how many. */
    int keepNewest(int maxEntries) {
        int removed = 0;
        for (int excess = entries.size() - maxEntries; excess > 0 && entries.pollFirstEntry() != null; excess--) removed++;
        if (removed > 0 && stored != null && !entries.isEmpty()) stored.deleteDocuments(new Document("ts", new Document("$lt", entries.firstKey())), 0);
        return removed;
    }

    @Override
    public void handleInsert(String namespace, List<Document> documents) {
        synchronized (writeLock) {
            stock.handleInsert(namespace, documents);
        }
    }

    @Override
    public void handleUpdate(String namespace, Document selector, Document query, List<Object> modifiedIds) {
        synchronized (writeLock) {
            stock.handleUpdate(namespace, selector, query, modifiedIds);
        }
    }

    @Override
    public void handleDelete(String namespace, Document query, List<Object> deletedIds) {
        synchronized (writeLock) {
            stock.handleDelete(namespace, query, deletedIds);
        }
    }

    @Override
    public void handleDropCollection(String namespace) {
        synchronized (writeLock) {
            stock.handleDropCollection(namespace);
        }
    }

    @Override
    public Cursor createCursor(Document changeStream, String namespace, Aggregation aggregation) {
        Document startAfter = (Document) changeStream.get("startAfter");
        Document resumeAfter = (Document) changeStream.get("resumeAfter");
        BsonTimestamp startAtOperationTime = (BsonTimestamp) changeStream.get("startAtOperationTime");
        OplogPosition start;
        if (startAfter != null) {
            start = OplogPosition.fromDocument(startAfter);
        } else if (resumeAfter != null) {
            start = OplogPosition.fromDocument(resumeAfter);
            if (droppedAtOrBefore(start, namespace)) return (Cursor) construct(invalidateCursor, start);
        } else if (startAtOperationTime != null) {
            start = new OplogPosition(startAtOperationTime).inclusive();
        } else {
            start = new OplogPosition((BsonTimestamp) call(clockNow, clock));
        }
        Function<OplogPosition, Stream<Document>> read = position -> aggregation.runStagesAsStream(
            entries.tailMap(timestampOf(position), true).values().stream()
                .filter(entry -> inNamespace(entry, namespace))
                .filter(entry -> new OplogPosition((BsonTimestamp) entry.get("ts")).isAfter(position))
                .map(entry -> (Document) call(toChangeEvent, stock, entry, changeStream)));
        OplogCursor cursor = new OplogCursor(cursorRegistry.generateCursorId(), read, start);
        cursorRegistry.add(cursor);
        return cursor;
    }

    /** Resuming after the collection's drop event gives an invalidate, as the stock oplog does. */
    private boolean droppedAtOrBefore(OplogPosition position, String namespace) {
        String database = Utils.getDatabaseNameFromFullName(namespace);
        Document drop = new Document("drop", Utils.getCollectionNameFromFullName(namespace));
        ConcurrentNavigableMap<BsonTimestamp, Document> upTo = entries.headMap(timestampOf(position), true);
        return upTo.values().stream().anyMatch(entry -> "c".equals(entry.get("op"))
            && (database + ".$cmd").equals(entry.get("ns")) && drop.equals(entry.get("o")));
    }

    /** Same rule as the stock oplog: the watched namespace, or a command on its database. */
    private static boolean inNamespace(Document entry, String namespace) {
        String ns = (String) entry.get("ns");
        if (ns.equals(namespace)) return true;
        return Utils.getDatabaseNameFromFullName(namespace).equals(Utils.getDatabaseNameFromFullName(ns))
            && Utils.getCollectionNameFromFullName(ns).equals("$cmd");
    }

    private BsonTimestamp timestampOf(OplogPosition position) {
        try {
            return (BsonTimestamp) positionTimestamp.get(position);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Object call(Method method, Object target, Object... args) {
        try {
            return method.invoke(target, args);
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException runtime) throw runtime;
            throw new IllegalStateException(e.getCause());
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Object construct(Constructor<?> constructor, Object... args) {
        try {
            return constructor.newInstance(args);
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException runtime) throw runtime;
            throw new IllegalStateException(e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }
}
