package io.medallion.serving;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.CurrentUserContext$;
import org.apache.spark.sql.catalyst.TableIdentifier;
import org.apache.spark.sql.catalyst.analysis.ResolvedNamespace;
import org.apache.spark.sql.catalyst.analysis.ResolvedTable;
import org.apache.spark.sql.catalyst.catalog.CatalogTable;
import org.apache.spark.sql.catalyst.catalog.HiveTableRelation;
import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.ExprId;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.plans.logical.Command;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.apache.spark.sql.execution.command.SetCommand;
import org.apache.spark.sql.execution.datasources.HadoopFsRelation;
import org.apache.spark.sql.execution.datasources.LogicalRelation;
import org.apache.spark.sql.execution.datasources.v2.DataSourceV2Relation;
import scala.Option;
import scala.Tuple2;
import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;

/**
 * The allow-list, checked on every analyzed plan (an analysis check rule).
 *
 * <ul>
 * <li>ANALYST and READER: queries, SHOW, DESCRIBE, EXPLAIN, USE and (analysts: a few harmless)
 *     SET only. Any other command anywhere in the plan is refused, and so are reflection calls
 *     and script transforms.</li>
 * <li>ANALYST also: every table read or described must be one analysts may see, never by path;
 *     a `direct` personal-data column may not be referenced or returned; locked settings must
 *     still hold their locked values.</li>
 * <li>PIPELINE (and READER/ANALYST, already read-only): nothing that changes Bronze, whichever
 *     way it is named.</li>
 * </ul>
 * Thrift statements are recorded in the access log, allowed or refused.
 */
final class AccessGuard extends AbstractFunction1<LogicalPlan, BoxedUnit> {
    /** Commands a read-only role may run (simple class names, v1 and v2 forms). */
    private static final Set<String> READ_ONLY_COMMANDS = Set.of(
            "ShowTables", "ShowTablesCommand", "ShowTableExtended", "ShowTablesExtended",
            "ShowNamespaces", "ShowNamespacesCommand", "ShowColumns", "ShowColumnsCommand",
            "ShowTableProperties", "ShowTablePropertiesCommand", "ShowFunctions", "ShowFunctionsCommand",
            "ShowViews", "ShowViewsCommand", "ShowCatalogs", "ShowCatalogsCommand",
            "ShowCurrentNamespace", "ShowCurrentNamespaceCommand", "ShowPartitions", "ShowPartitionsCommand",
            "ShowCreateTable", "ShowCreateTableCommand", "DescribeRelation", "DescribeTableCommand",
            "DescribeColumn", "DescribeColumnCommand", "DescribeNamespace", "DescribeDatabaseCommand",
            "DescribeFunction", "DescribeFunctionCommand", "DescribeQueryCommand",
            "DescribeDeltaDetailCommand", "ExplainCommand", "SetCommand", "SetCatalogAndNamespace",
            "SetNamespaceCommand", "SetCatalogCommand");
    /** Nodes that write or run code whatever they are wrapped in (belt and braces to `Command`). */
    private static final Pattern WRITE_NODE = Pattern.compile(
            "(^|.*[a-z0-9])(Insert|Merge|Update|Delete|Restore|Vacuum|Optimize|Truncate|Clone|Cache|Refresh|"
            + "Repair|Create|Drop|Alter|Rename|Add(Jar|File|Archive)|Reset|Analyze|Load|Comment|Msck|"
            + "Reorg|Convert|Clear|Call|Overwrite|Append|Replace|ScriptTransformation|Write)([A-Z].*|$)");
    /** Expressions that call arbitrary JVM code or foreign functions. */
    private static final Pattern FORBIDDEN_EXPRESSION = Pattern.compile(
            "(?i).*(Reflect|PythonUDF|HiveGenericUDF|HiveSimpleUDF|HiveUDAF|HiveGenericUDTF).*");
    /** Leaves a query may read from besides tables (constants, ranges, CTE references). */
    private static final Set<String> VALUE_LEAVES = Set.of(
            "LocalRelation", "OneRowRelation", "Range", "CTERelationRef", "EmptyRelation");

    static final String LOCAL_ROLE_CONF = "spark.medallion.guard.localRole";

    private final SparkSession session;

    AccessGuard(SparkSession session) {
        this.session = session;
    }

    @Override
    public BoxedUnit apply(LogicalPlan plan) {
        ServingPolicy policy = ServingPolicy.current(session.sparkContext());
        if (policy == null) {
            return BoxedUnit.UNIT;
        }
        String user = CurrentUserContext$.MODULE$.CURRENT_USER().get();
        Role role = user == null ? localRole(policy) : policy.roleOf(user);
        if (role == Role.UNRESTRICTED) {
            return BoxedUnit.UNIT;
        }
        if (internal(plan)) {
            return BoxedUnit.UNIT;
        }
        Set<String> read = new TreeSet<>();
        AccessDenied refused = null;
        try {
            check(plan, role, policy, read);
        } catch (AccessDenied denied) {
            refused = denied;
        }
        if (user != null) {
            AccessLog.record(policy, user, role, session.sparkContext().getLocalProperty("spark.jobGroup.id"),
                    session.sparkContext().getLocalProperty("spark.job.description"), plan.nodeName(), read, refused);
        }
        if (refused != null) {
            throw refused;
        }
        return BoxedUnit.UNIT;
    }

    /**
     * A plan Delta builds for itself while running a statement (reading a table's transaction
     * log to know its files, listing them): it reads files of a `_delta_log` folder, or an RDD, and
     * names no table. SQL cannot express one: reads by path are off for analysts (runSQLOnFiles
     * is locked), and no SQL makes an RDD. The statement that caused it was judged itself.
     */
    private static boolean internal(LogicalPlan plan) {
        boolean[] internalLeaf = {false};
        boolean[] named = {false};
        plan.foreachWithSubqueries(new AbstractFunction1<LogicalPlan, BoxedUnit>() {
            @Override
            public BoxedUnit apply(LogicalPlan node) {
                String name = node.getClass().getSimpleName();
                if (node instanceof LogicalRelation) {
                    LogicalRelation lr = (LogicalRelation) node;
                    if (lr.catalogTable().isDefined()) {
                        named[0] = true;
                    } else if (lr.relation() instanceof HadoopFsRelation && logFiles((HadoopFsRelation) lr.relation())) {
                        internalLeaf[0] = true;
                    }
                } else if (name.equals("LogicalRDD") || name.equals("ExternalRDD")) {
                    internalLeaf[0] = true;
                } else if (isRelation(node)) {
                    named[0] = true;
                }
                return BoxedUnit.UNIT;
            }
        });
        return internalLeaf[0] && !named[0];
    }

    private static boolean logFiles(HadoopFsRelation relation) {
        List<org.apache.hadoop.fs.Path> roots = scala.jdk.javaapi.CollectionConverters.asJava(relation.location().rootPaths());
        if (roots.isEmpty()) {
            return false;
        }
        for (org.apache.hadoop.fs.Path p : roots) {
            String s = p.toString();
            if (!(s.contains("/_delta_log/") || s.endsWith("/_delta_log"))) {
                return false;
            }
        }
        return true;
    }

    /** Statements of the process itself: the session may narrow the policy's role (`medallion sql`
     *  registers its tables, then runs the user's statement as a reader). */
    private Role localRole(ServingPolicy policy) {
        String narrowed = session.sessionState().conf().getConfString(LOCAL_ROLE_CONF, "");
        return narrowed.isEmpty() ? policy.localRole : Role.parse(narrowed);
    }

    private void check(LogicalPlan plan, Role role, ServingPolicy policy, Set<String> read) {
        if (plan instanceof SetCommand && ((SetCommand) plan).kv().isDefined()
                && ((SetCommand) plan).kv().get()._1().trim().toLowerCase(Locale.ROOT).startsWith("spark.medallion.")) {
            throw new AccessDenied("SERVE_PROTECTED_SETTING", "the guard's settings cannot be changed by SQL");
        }
        List<LogicalPlan> nodes = new ArrayList<>();
        plan.foreachWithSubqueries(new AbstractFunction1<LogicalPlan, BoxedUnit>() {
            @Override
            public BoxedUnit apply(LogicalPlan node) {
                nodes.add(node);
                return BoxedUnit.UNIT;
            }
        });
        boolean readOnly = role == Role.READER || role == Role.ANALYST;
        String top = plan.getClass().getSimpleName();
        boolean allowedCommand = READ_ONLY_COMMANDS.contains(top);
        boolean writes = false;
        for (LogicalPlan node : nodes) {
            String name = node.getClass().getSimpleName();
            boolean command = node instanceof Command || WRITE_NODE.matcher(name).matches();
            if (command && !(node == plan && allowedCommand)) {
                writes = true;
                if (readOnly) {
                    throw new AccessDenied("SQL_READ_ONLY", "read-only access: " + describe(node)
                            + " is not allowed (queries, SHOW, DESCRIBE and EXPLAIN only)");
                }
            }
            checkExpressions(node);
        }
        List<String[]> mentioned = new ArrayList<>();
        List<String> paths = new ArrayList<>();
        for (LogicalPlan node : nodes) {
            mentions(node, mentioned, paths);
        }
        if (writes || !readOnly) {
            for (String[] name : mentioned) {
                if (writes && name[0] != null && policy.isBronze(name[0])) {
                    throw bronze(name[0] + "." + name[1]);
                }
            }
            for (String path : paths) {
                if (writes && policy.touchesBronzePath(path)) {
                    throw bronze("a path in Bronze's folder");
                }
            }
        }
        if (role != Role.ANALYST) {
            return;
        }
        if (!paths.isEmpty()) {
            throw new AccessDenied("SERVE_PATH_READ", "reading files by path is not allowed; "
                    + "query the tables by name (SHOW TABLES IN gold)");
        }
        // USE <schema> reads nothing (clients such as PyHive run `USE default` on connect)
        boolean use = top.equals("SetCatalogAndNamespace") || top.equals("SetNamespaceCommand");
        for (String[] name : mentioned) {
            if (!use && (name[0] == null || !policy.visible(name[0], name[1]))) {
                throw notVisible(name[0] == null ? name[1] : name[0] + "." + name[1]);
            }
            if (name[2] != null) {
                read.add(name[0].toLowerCase(Locale.ROOT) + "." + name[1].toLowerCase(Locale.ROOT));
            }
        }
        for (LogicalPlan node : nodes) {
            if (node.children().isEmpty() && !isRelation(node) && !VALUE_LEAVES.contains(node.getClass().getSimpleName())
                    && !allowedCommand) {
                throw new AccessDenied("SERVE_NOT_ALLOWED", describe(node) + " is not allowed for analysts");
            }
        }
        checkDirectColumns(plan, nodes, policy);
        checkSettings(plan, policy);
    }

    private static AccessDenied bronze(String what) {
        return new AccessDenied("SQL_BRONZE_APPEND_ONLY",
                "Bronze is append-only: no statement may change " + what);
    }

    private static AccessDenied notVisible(String what) {
        return new AccessDenied("SERVE_NOT_VISIBLE", what + " is not available to analysts "
                + "(Gold and the non-personal Silver and audit tables are: SHOW TABLES IN gold)");
    }

    private static String describe(LogicalPlan node) {
        String name = node.nodeName();
        return name.endsWith("Command") ? name.substring(0, name.length() - "Command".length()) : name;
    }

    private static boolean isRelation(LogicalPlan node) {
        return node instanceof LogicalRelation || node instanceof DataSourceV2Relation
                || node instanceof HiveTableRelation;
    }

    /**
     * Every table and path a node names: relations it reads, identifiers its arguments hold.
     * Entries are {schema, table, "read" or null}; schema is null for a name without one.
     */
    private void mentions(LogicalPlan node, List<String[]> names, List<String> paths) {
        if (node instanceof LogicalRelation) {
            Option<CatalogTable> table = ((LogicalRelation) node).catalogTable();
            if (table.isDefined()) {
                names.add(read(table.get().identifier()));
            } else {
                paths.add("(a file relation)");
            }
            return;
        }
        if (node instanceof HiveTableRelation) {
            names.add(read(((HiveTableRelation) node).tableMeta().identifier()));
            return;
        }
        if (node instanceof DataSourceV2Relation) {
            Option<Identifier> id = ((DataSourceV2Relation) node).identifier();
            if (!id.isDefined()) {
                paths.add("(a relation without a name)");
            } else {
                identifier(id.get(), names, paths, "read");
            }
            return;
        }
        if (node instanceof ResolvedTable) {
            identifier(((ResolvedTable) node).identifier(), names, paths, null);
            return;
        }
        if (node instanceof ResolvedNamespace) {
            List<String> ns = scala.jdk.javaapi.CollectionConverters.asJava(((ResolvedNamespace) node).namespace());
            if (!ns.isEmpty()) {
                names.add(new String[]{ns.get(ns.size() - 1), "*", null});
            }
            return;
        }
        scala.collection.Iterator<Object> it = node.productIterator();
        List<String> found = new ArrayList<>();
        while (it.hasNext()) {
            argument(it.next(), names, found, 0);
        }
        for (String p : found) {
            paths.add(node.nodeName() + " " + p);
        }
    }

    private void argument(Object value, List<String[]> names, List<String> paths, int depth) {
        if (value == null || depth > 3) {
            return;
        }
        if (value instanceof Option) {
            Option<?> o = (Option<?>) value;
            if (o.isDefined()) {
                argument(o.get(), names, paths, depth + 1);
            }
        } else if (value instanceof TableIdentifier) {
            TableIdentifier t = (TableIdentifier) value;
            names.add(new String[]{t.database().isDefined() ? t.database().get() : currentSchema(), t.table(), null});
        } else if (value instanceof Identifier) {
            identifier((Identifier) value, names, paths, null);
        } else if (value instanceof CatalogTable) {
            CatalogTable t = (CatalogTable) value;
            names.add(new String[]{t.identifier().database().isDefined() ? t.identifier().database().get()
                    : currentSchema(), t.identifier().table(), null});
            if (t.storage().locationUri().isDefined()) {
                paths.add(t.storage().locationUri().get().toString());
            }
        } else if (value instanceof String) {
            String s = (String) value;
            if (s.startsWith("/") || s.matches("^[a-zA-Z][a-zA-Z0-9+.-]*:/.*")) {
                paths.add(s);
            }
        } else if (value instanceof scala.collection.Iterable && !(value instanceof LogicalPlan)
                && !(value instanceof Expression)) {
            scala.collection.Iterator<?> it = ((scala.collection.Iterable<?>) value).iterator();
            while (it.hasNext()) {
                argument(it.next(), names, paths, depth + 1);
            }
        } else if (value instanceof Tuple2) {
            argument(((Tuple2<?, ?>) value)._1(), names, paths, depth + 1);
            argument(((Tuple2<?, ?>) value)._2(), names, paths, depth + 1);
        }
    }

    private void identifier(Identifier id, List<String[]> names, List<String> paths, String how) {
        String[] ns = id.namespace();
        String name = id.name();
        if (name.startsWith("/") || name.matches("^[a-zA-Z][a-zA-Z0-9+.-]*:/.*")) {
            paths.add(name);
            return;
        }
        names.add(new String[]{ns.length == 0 ? currentSchema() : ns[ns.length - 1], name, how});
    }

    private String[] read(TableIdentifier t) {
        return new String[]{t.database().isDefined() ? t.database().get() : currentSchema(), t.table(), "read"};
    }

    private String currentSchema() {
        return session.sessionState().catalog().getCurrentDatabase();
    }

    private static void checkExpressions(LogicalPlan node) {
        scala.collection.Iterator<Expression> it = node.expressions().iterator();
        while (it.hasNext()) {
            it.next().foreach(new AbstractFunction1<Expression, BoxedUnit>() {
                @Override
                public BoxedUnit apply(Expression e) {
                    if (FORBIDDEN_EXPRESSION.matcher(e.getClass().getSimpleName()).matches()) {
                        throw new AccessDenied("SQL_FORBIDDEN_FUNCTION", e.prettyName()
                                + " runs code outside SQL and is not allowed here");
                    }
                    return BoxedUnit.UNIT;
                }
            });
        }
    }

    /** A `direct` column of a table analysts see may be neither referenced nor returned. */
    private static void checkDirectColumns(LogicalPlan plan, List<LogicalPlan> nodes, ServingPolicy policy) {
        Map<ExprId, String> direct = new HashMap<>();
        for (LogicalPlan node : nodes) {
            String table = null;
            if (node instanceof LogicalRelation && ((LogicalRelation) node).catalogTable().isDefined()) {
                TableIdentifier t = ((LogicalRelation) node).catalogTable().get().identifier();
                table = (t.database().isDefined() ? t.database().get() + "." : "") + t.table();
            } else if (node instanceof DataSourceV2Relation && ((DataSourceV2Relation) node).identifier().isDefined()) {
                Identifier id = ((DataSourceV2Relation) node).identifier().get();
                table = (id.namespace().length > 0 ? id.namespace()[id.namespace().length - 1] + "." : "") + id.name();
            }
            if (table == null) {
                continue;
            }
            Set<String> columns = policy.directColumns.getOrDefault(table.toLowerCase(Locale.ROOT), Set.of());
            for (Attribute a : scala.jdk.javaapi.CollectionConverters.asJava(node.output())) {
                if (columns.contains(a.name().toLowerCase(Locale.ROOT))) {
                    direct.put(a.exprId(), table + "." + a.name());
                }
            }
        }
        if (direct.isEmpty()) {
            return;
        }
        Set<ExprId> used = new HashSet<>();
        for (LogicalPlan node : nodes) {
            if (!isRelation(node)) {
                for (Attribute a : scala.jdk.javaapi.CollectionConverters.asJava(node.references().toSeq())) {
                    used.add(a.exprId());
                }
            }
            if (node == plan) {
                for (Attribute a : scala.jdk.javaapi.CollectionConverters.asJava(node.output())) {
                    used.add(a.exprId());
                }
            }
        }
        for (Map.Entry<ExprId, String> e : direct.entrySet()) {
            if (used.contains(e.getKey())) {
                throw new AccessDenied("SERVE_PERSONAL_COLUMN", e.getValue() + " is personal data (class "
                        + "direct) and never served; select the other columns by name");
            }
        }
    }

    /** Analysts may read and change a few harmless settings; locked ones keep their values. */
    private void checkSettings(LogicalPlan plan, ServingPolicy policy) {
        if (plan instanceof SetCommand) {
            Option<Tuple2<String, Option<String>>> kv = ((SetCommand) plan).kv();
            if (!kv.isDefined()) {
                throw new AccessDenied("SERVE_PROTECTED_SETTING", "listing every setting is not allowed; "
                        + "SET <key> shows one of " + new TreeSet<>(policy.settableConfs));
            }
            String key = kv.get()._1().trim().toLowerCase(Locale.ROOT);
            if (!policy.settableConfs.contains(key)) {
                throw new AccessDenied("SERVE_PROTECTED_SETTING", kv.get()._1().trim()
                        + " is a protected setting; analysts may set " + new TreeSet<>(policy.settableConfs));
            }
        }
        for (Map.Entry<String, String> e : policy.lockedConfs.entrySet()) {
            String value = session.sessionState().conf().getConfString(e.getKey(), null);
            if (value == null || !value.trim().equalsIgnoreCase(e.getValue())) {
                throw new AccessDenied("SERVE_PROTECTED_SETTING", e.getKey() + " was changed for this "
                        + "session; reconnect without overriding it");
            }
        }
    }
}
