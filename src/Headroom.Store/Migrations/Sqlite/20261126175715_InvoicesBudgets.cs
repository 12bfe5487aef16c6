using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Headroom.Store.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class InvoicesBudgets : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "budget_events",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    budget_id = table.Column<string>(type: "TEXT", nullable: false),
                    org_id = table.Column<string>(type: "TEXT", nullable: false),
                    type = table.Column<string>(type: "TEXT", nullable: false),
                    period_start = table.Column<long>(type: "INTEGER", nullable: false),
                    percent = table.Column<int>(type: "INTEGER", nullable: false),
                    threshold_units = table.Column<long>(type: "INTEGER", nullable: false),
                    spent_units = table.Column<long>(type: "INTEGER", nullable: false),
                    time = table.Column<long>(type: "INTEGER", nullable: false),
                    delivery = table.Column<string>(type: "TEXT", nullable: false),
                    attempts = table.Column<int>(type: "INTEGER", nullable: false),
                    next_attempt_at = table.Column<long>(type: "INTEGER", nullable: true),
                    last_error = table.Column<string>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_budget_events", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "budget_leases",
                columns: table => new
                {
                    lease_id = table.Column<string>(type: "TEXT", nullable: false),
                    budget_id = table.Column<string>(type: "TEXT", nullable: false),
                    period_start = table.Column<long>(type: "INTEGER", nullable: false),
                    max_units = table.Column<long>(type: "INTEGER", nullable: false),
                    settled = table.Column<bool>(type: "INTEGER", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_budget_leases", x => new { x.lease_id, x.budget_id });
                });

            migrationBuilder.CreateTable(
                name: "budget_spend",
                columns: table => new
                {
                    budget_id = table.Column<string>(type: "TEXT", nullable: false),
                    period_start = table.Column<long>(type: "INTEGER", nullable: false),
                    metered_units = table.Column<long>(type: "INTEGER", nullable: false),
                    settled_units = table.Column<long>(type: "INTEGER", nullable: false),
                    reserved_units = table.Column<long>(type: "INTEGER", nullable: false),
                    alerts_fired = table.Column<int>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_budget_spend", x => new { x.budget_id, x.period_start });
                });

            migrationBuilder.CreateTable(
                name: "budgets",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    org_id = table.Column<string>(type: "TEXT", nullable: false),
                    project_id = table.Column<string>(type: "TEXT", nullable: true),
                    name = table.Column<string>(type: "TEXT", nullable: false),
                    limit_units = table.Column<long>(type: "INTEGER", nullable: false),
                    alert_percents = table.Column<string>(type: "TEXT", nullable: false),
                    hard_limit = table.Column<bool>(type: "INTEGER", nullable: false),
                    webhook_url = table.Column<string>(type: "TEXT", nullable: true),
                    webhook_secret = table.Column<string>(type: "TEXT", nullable: true),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    updated_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_budgets", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "invoices",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    org_id = table.Column<string>(type: "TEXT", nullable: false),
                    period_start = table.Column<long>(type: "INTEGER", nullable: false),
                    period_end = table.Column<long>(type: "INTEGER", nullable: false),
                    currency = table.Column<string>(type: "TEXT", nullable: false),
                    total = table.Column<string>(type: "TEXT", nullable: false),
                    document = table.Column<string>(type: "TEXT", nullable: false),
                    last_seq = table.Column<long>(type: "INTEGER", nullable: false),
                    chain_head = table.Column<string>(type: "TEXT", nullable: false),
                    events_hash = table.Column<string>(type: "TEXT", nullable: false),
                    event_count = table.Column<int>(type: "INTEGER", nullable: false),
                    issued_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_invoices", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "spot_price_points",
                columns: table => new
                {
                    region = table.Column<string>(type: "TEXT", nullable: false),
                    gpu_model = table.Column<string>(type: "TEXT", nullable: false),
                    time = table.Column<long>(type: "INTEGER", nullable: false),
                    per_gpu_hour = table.Column<decimal>(type: "TEXT", precision: 18, scale: 6, nullable: false),
                    used_milli_gpus = table.Column<long>(type: "INTEGER", nullable: false),
                    total_milli_gpus = table.Column<long>(type: "INTEGER", nullable: false),
                    sheet_version = table.Column<int>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_spot_price_points", x => new { x.region, x.gpu_model, x.time });
                });

            migrationBuilder.CreateIndex(
                name: "ix_budget_events_budget_id_id",
                table: "budget_events",
                columns: new[] { "budget_id", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_budget_events_delivery_next_attempt_at",
                table: "budget_events",
                columns: new[] { "delivery", "next_attempt_at" });

            migrationBuilder.CreateIndex(
                name: "ix_budget_leases_settled_created_at",
                table: "budget_leases",
                columns: new[] { "settled", "created_at" });

            migrationBuilder.CreateIndex(
                name: "ix_budgets_org_id_id",
                table: "budgets",
                columns: new[] { "org_id", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_invoices_org_id_id",
                table: "invoices",
                columns: new[] { "org_id", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_invoices_org_id_period_start",
                table: "invoices",
                columns: new[] { "org_id", "period_start" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_spot_price_points_time",
                table: "spot_price_points",
                column: "time");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "budget_events");

            migrationBuilder.DropTable(
                name: "budget_leases");

            migrationBuilder.DropTable(
                name: "budget_spend");

            migrationBuilder.DropTable(
                name: "budgets");

            migrationBuilder.DropTable(
                name: "invoices");

            migrationBuilder.DropTable(
                name: "spot_price_points");
        }
    }
}
