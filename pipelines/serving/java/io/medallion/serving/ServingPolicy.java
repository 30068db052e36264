package io.medallion.serving;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.File;
import java.io.IOException;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;

/**
 * The policy a `medallion serve` or `medallion sql` process runs under, written by its Python
 * side (pipelines/serving/policy.py) from the table registry: who has which role (salted password
 * hashes, never passwords), which tables analysts see, which columns are `direct` personal data,
 * where Bronze lives, which settings analysts may change. Its path is the static Spark conf
 * {@code spark.medallion.guard.policy}, which no SQL statement can change.
 */
public final class ServingPolicy {
    public static final String CONF = "spark.medallion.guard.policy";

    private static final Map<String, ServingPolicy> LOADED = new ConcurrentHashMap<>();

    public final boolean authenticated;
    public final Role localRole;
    public final Map<String, User> users;
    public final Set<String> visibleTables;
    public final Set<String> visibleSchemas;
    public final Map<String, Set<String>> directColumns;
    public final Set<String> bronzeSchemas;
    public final Set<String> bronzeLocations;
    public final Set<String> settableConfs;
    public final Map<String, String> lockedConfs;
    public final String accessLog;

    /** One account: role and PBKDF2-HMAC-SHA256 hash of its password. */
    public static final class User {
        public final Role role;
        public final byte[] salt;
        public final byte[] hash;
        public final int iterations;

        User(Role role, byte[] salt, byte[] hash, int iterations) {
            this.role = role;
            this.salt = salt;
            this.hash = hash;
            this.iterations = iterations;
        }
    }

    private ServingPolicy(JsonNode root) {
        authenticated = root.path("authenticated").asBoolean(false);
        localRole = Role.parse(root.path("local_role").asText("unrestricted"));
        Map<String, User> u = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.path("users").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode v = e.getValue();
            u.put(e.getKey(), new User(Role.parse(v.path("role").asText()),
                    hex(v.path("salt").asText()), hex(v.path("hash").asText()),
                    v.path("iterations").asInt()));
        }
        users = Collections.unmodifiableMap(u);
        visibleTables = lowerSet(root.path("visible_tables"));
        visibleSchemas = lowerSet(root.path("visible_schemas"));
        Map<String, Set<String>> d = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.path("direct_columns").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            d.put(e.getKey().toLowerCase(Locale.ROOT), lowerSet(e.getValue()));
        }
        directColumns = Collections.unmodifiableMap(d);
        bronzeSchemas = lowerSet(root.path("bronze_schemas"));
        Set<String> locations = new HashSet<>();
        for (JsonNode n : root.path("bronze_locations")) {
            locations.add(normalizePath(n.asText()));
        }
        bronzeLocations = Collections.unmodifiableSet(locations);
        settableConfs = lowerSet(root.path("settable_confs"));
        Map<String, String> locked = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.path("locked_confs").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            locked.put(e.getKey(), e.getValue().asText());
        }
        lockedConfs = Collections.unmodifiableMap(locked);
        accessLog = root.path("access_log").asText("");
    }

    /** The policy of the running Spark application; null when none is configured. */
    public static ServingPolicy current(SparkContext sc) {
        return sc == null ? null : ofConf(sc.getConf());
    }

    static ServingPolicy ofConf(SparkConf conf) {
        String path = conf.get(CONF, "");
        if (path.isEmpty()) {
            return null;
        }
        return LOADED.computeIfAbsent(path, ServingPolicy::load);
    }

    private static ServingPolicy load(String path) {
        try {
            return new ServingPolicy(new ObjectMapper().readTree(new File(path)));
        } catch (IOException e) {
            throw new IllegalStateException("medallion: cannot read the serving policy " + path, e);
        }
    }

    /** The role of a Thrift user; unverified names (no authentication) are analysts. */
    public Role roleOf(String user) {
        if (!authenticated) {
            return Role.ANALYST;
        }
        User u = users.get(user);
        return u == null ? Role.ANALYST : u.role;
    }

    public boolean visible(String schema, String table) {
        String s = schema.toLowerCase(Locale.ROOT);
        if ("*".equals(table)) {  // a schema: listed when analysts see any of its tables
            return visibleSchemas.contains(s) || visibleTables.stream().anyMatch(t -> t.startsWith(s + "."));
        }
        return visibleSchemas.contains(s) || visibleTables.contains(s + "." + table.toLowerCase(Locale.ROOT));
    }

    public boolean isBronze(String schema) {
        return bronzeSchemas.contains(schema.toLowerCase(Locale.ROOT));
    }

    /** True when a path string names Bronze's folder, something inside it or a folder holding it. */
    public boolean touchesBronzePath(String path) {
        String p = normalizePath(path);
        if (p.isEmpty()) {
            return false;
        }
        for (String b : bronzeLocations) {
            if (p.equals(b) || p.startsWith(b + "/") || b.startsWith(p + "/")) {
                return true;
            }
        }
        return false;
    }

    static String normalizePath(String path) {
        String p = path.trim();
        if (p.startsWith("file://")) {
            p = p.substring("file://".length());
        } else if (p.startsWith("file:")) {
            p = p.substring("file:".length());
        }
        while (p.length() > 1 && p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        return p.replaceAll("/+", "/");
    }

    private static Set<String> lowerSet(JsonNode array) {
        Set<String> out = new HashSet<>();
        for (JsonNode n : array) {
            out.add(n.asText().toLowerCase(Locale.ROOT));
        }
        return Collections.unmodifiableSet(out);
    }

    private static byte[] hex(String s) {
        byte[] out = new byte[s.length() / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }
}
