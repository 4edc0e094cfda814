package dev.keyledger.es;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.elasticsearch.cluster.ClusterName;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.core.IOUtils;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.node.EmbeddedNode;
import org.elasticsearch.node.Node;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Starts one real Elasticsearch node in this JVM, from the Maven Central jars on the classpath.
 *
 * <p>Usage: {@code java -cp classes:libs/* dev.keyledger.es.EsLauncher -Epath.home=DIR -Ekey=value ...}
 * (same {@code -E} syntax as the elasticsearch CLI). Only the netty4 transport/HTTP plugin is loaded;
 * the other distribution modules are not published to Maven Central.
 *
 * <p>Prints one line to stdout when the node is up ({@code keyledger-es: started ...}) and then blocks
 * until the JVM is asked to stop (SIGTERM/SIGINT), when the node is closed cleanly.
 */
public final class EsLauncher {
    private EsLauncher() {
    }

    public static void main(String[] args) {
        // Keep the real streams: LogConfigurator redirects System.out/err into log4j loggers.
        PrintStream out = System.out;
        PrintStream err = System.err;
        long startNanos = System.nanoTime();
        try {
            Settings settings = parseSettings(args);
            Environment env = prepareEnvironment(settings);

            LogConfigurator.registerErrorListener();
            LogConfigurator.setNodeName(Node.NODE_NAME_SETTING.get(settings));
            LogConfigurator.setClusterName(ClusterName.CLUSTER_NAME_SETTING.get(settings).value());
            LogConfigurator.configure(env, false);
            Logger logger = LogManager.getLogger(EsLauncher.class);

            Node node = new EmbeddedNode(env, List.of(Netty4Plugin.class));
            CountDownLatch stopped = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                logger.info("stopping elasticsearch node");
                try {
                    node.prepareForClose();
                    IOUtils.close(node);
                    if (node.awaitClose(20, TimeUnit.SECONDS) == false) {
                        logger.warn("node did not close within 20s");
                    }
                } catch (Exception e) {
                    logger.warn("failed to close node cleanly", e);
                } finally {
                    stopped.countDown();
                    out.println("keyledger-es: stopped");
                    out.flush();
                    LogManager.shutdown();
                }
            }, "keyledger-es-shutdown"));

            node.start();
            var http = node.injector().getInstance(HttpServerTransport.class).boundAddress();
            long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
            String started = "keyledger-es: started elasticsearch " + org.elasticsearch.Build.current().version()
                + " http=" + http.publishAddress() + " in " + elapsedMs + " ms";
            logger.info(started);
            out.println(started);
            out.flush();

            // All Elasticsearch threads are daemons: block the (non-daemon) main thread until shutdown.
            stopped.await();
        } catch (Throwable t) {
            err.println("keyledger-es: failed to start elasticsearch");
            t.printStackTrace(err);
            err.flush();
            Runtime.getRuntime().halt(1); // do not wait for the shutdown hook of a half-built node
        }
    }

    /** Parses {@code -Ekey=value} arguments. */
    static Settings parseSettings(String[] args) {
        Settings.Builder builder = Settings.builder();
        for (String arg : args) {
            if (arg.startsWith("-E") == false || arg.indexOf('=') < 3) {
                throw new IllegalArgumentException("expected -Ekey=value, got: " + arg);
            }
            String kv = arg.substring(2);
            int eq = kv.indexOf('=');
            builder.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        Settings settings = builder.build();
        if (Environment.PATH_HOME_SETTING.exists(settings) == false) {
            throw new IllegalArgumentException("-Epath.home=<dir> is required");
        }
        return settings;
    }

    /** Creates path.home/config with our log4j2.properties, and path.logs. */
    static Environment prepareEnvironment(Settings settings) throws Exception {
        Path home = Path.of(Environment.PATH_HOME_SETTING.get(settings)).toAbsolutePath();
        Path config = home.resolve("config");
        Files.createDirectories(config);
        Files.createDirectories(home.resolve("plugins"));
        try (InputStream in = EsLauncher.class.getResourceAsStream("log4j2.properties")) {
            if (in == null) {
                throw new IllegalStateException("log4j2.properties missing next to EsLauncher.class on the classpath");
            }
            Files.copy(in, config.resolve("log4j2.properties"), StandardCopyOption.REPLACE_EXISTING);
        }
        Environment env = new Environment(settings, config);
        Files.createDirectories(env.logsDir());
        return env;
    }
}
