package io.medallion.serving;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Who ran what: one JSON line per Thrift statement and outcome (user, role, time, statement id,
 * a fingerprint of the statement with its literals removed, the tables it read, the refusal code).
 * Never the statement itself: its literals may be personal data. The serving process loads the
 * lines into `audit.sql_access_log` (pipelines/serving/access_log.py).
 */
final class AccessLog {
    private static final ObjectMapper JSON = new ObjectMapper();
    // statements already logged with an outcome (a statement is checked once per analyzed plan:
    // EXPLAIN and some commands analyze inner plans again)
    private static final Map<String, Boolean> SEEN = java.util.Collections.synchronizedMap(
            new LinkedHashMap<String, Boolean>(256, 0.75f, false) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                    return size() > 10_000;
                }
            });

    private AccessLog() {
    }

    static void record(ServingPolicy policy, String user, Role role, String statementId, String statement,
                       String kind, Collection<String> tables, AccessDenied refused) {
        if (policy.accessLog.isEmpty()) {
            return;
        }
        String outcome = refused == null ? "allowed" : "refused";
        if (statementId != null && SEEN.put(statementId + "/" + outcome, Boolean.TRUE) != null) {
            return;
        }
        ObjectNode line = JSON.createObjectNode();
        line.put("logged_at", Instant.now().toString());
        line.put("user_name", user);
        line.put("role", role.name().toLowerCase(Locale.ROOT));
        line.put("statement_id", statementId);
        line.put("statement_fingerprint", fingerprint(statement));
        line.put("statement_kind", kind);
        ArrayNode read = line.putArray("tables_read");
        tables.forEach(read::add);
        line.put("outcome", outcome);
        line.put("refusal_code", refused == null ? null : refused.code());
        append(policy.accessLog, line.toString() + "\n");
    }

    private static synchronized void append(String path, String text) {
        try (OutputStream out = new FileOutputStream(path, true)) {
            out.write(text.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException("medallion: cannot write the access log", e);
        }
    }

    /** SHA-256 (first 16 hex) of the statement with comments, literals and spacing normalized:
     *  the same query shape gives the same fingerprint whatever values it filters on. */
    static String fingerprint(String statement) {
        if (statement == null) {
            return null;
        }
        String s = statement
                .replaceAll("(?s)/\\*.*?\\*/", " ")
                .replaceAll("--[^\\n]*", " ")
                .replaceAll("'(?:[^'\\\\]|\\\\.)*'", "?")
                .replaceAll("\"(?:[^\"\\\\]|\\\\.)*\"", "?")
                .replaceAll("\\b\\d+(?:\\.\\d+)?(?:[eE][-+]?\\d+)?[lLdDsSyY]?\\b", "?")
                .replaceAll("\\s+", " ")
                .trim()
                .toLowerCase(Locale.ROOT);
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
            StringBuilder hex = new StringBuilder();
            for (int i = 0; i < 8; i++) {
                hex.append(String.format("%02x", digest[i]));
            }
            return hex.toString();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
