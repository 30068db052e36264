package io.medallion.serving;

import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import scala.Function1;
import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;

/**
 * `spark.sql.extensions` entry: adds the access guard as an analysis check rule, so every
 * statement is judged on its analyzed plan (what it really reads and does, after views, CTEs and
 * name resolution), before anything runs. Inert without a serving policy.
 */
public final class GuardExtension extends AbstractFunction1<SparkSessionExtensions, BoxedUnit> {
    @Override
    public BoxedUnit apply(SparkSessionExtensions extensions) {
        extensions.injectCheckRule(new AbstractFunction1<SparkSession, Function1<LogicalPlan, BoxedUnit>>() {
            @Override
            public Function1<LogicalPlan, BoxedUnit> apply(SparkSession session) {
                return new AccessGuard(session);
            }
        });
        return BoxedUnit.UNIT;
    }
}
