using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Headroom.Store.Migrations.Postgres
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
                    id = table.Column<string>(type: "text", nullable: false),
                    budget_id = table.Column<string>(type: "text", nullable: false),
                    org_id = table.Column<string>(type: "text", nullable: false),
                    type = table.Column<string>(type: "text", nullable: false),
                    period_start = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    percent = table.Column<int>(type: "integer", nullable: false),
                    threshold_units = table.Column<long>(type: "bigint", nullable: false),
                    spent_units = table.Column<long>(type: "bigint", nullable: false),
                    time = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    delivery = table.Column<string>(type: "text", nullable: false),
                    attempts = table.Column<int>(type: "integer", nullable: false),
                    next_attempt_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    last_error = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_budget_events", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "budget_leases",
                columns: table => new
                {
                    lease_id = table.Column<string>(type: "text", nullable: false),
                    budget_id = table.Column<string>(type: "text", nullable: false),
                    period_start = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    max_units = table.Column<long>(type: "bigint", nullable: false),
                    settled = table.Column<bool>(type: "boolean", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_budget_leases", x => new { x.lease_id, x.budget_id });
                });

            migrationBuilder.CreateTable(
                name: "budget_spend",
                columns: table => new
                {
                    budget_id = table.Column<string>(type: "text", nullable: false),
                    period_start = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    metered_units = table.Column<long>(type: "bigint", nullable: false),
                    settled_units = table.Column<long>(type: "bigint", nullable: false),
                    reserved_units = table.Column<long>(type: "bigint", nullable: false),
                    alerts_fired = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_budget_spend", x => new { x.budget_id, x.period_start });
                });

            migrationBuilder.CreateTable(
                name: "budgets",
                columns: table => new
                {
                    id = table.Column<string>(type: "text", nullable: false),
                    org_id = table.Column<string>(type: "text", nullable: false),
                    project_id = table.Column<string>(type: "text", nullable: true),
                    name = table.Column<string>(type: "text", nullable: false),
                    limit_units = table.Column<long>(type: "bigint", nullable: false),
                    alert_percents = table.Column<string>(type: "text", nullable: false),
                    hard_limit = table.Column<bool>(type: "boolean", nullable: false),
                    webhook_url = table.Column<string>(type: "text", nullable: true),
                    webhook_secret = table.Column<string>(type: "text", nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    updated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_budgets", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "invoices",
                columns: table => new
                {
                    id = table.Column<string>(type: "text", nullable: false),
                    org_id = table.Column<string>(type: "text", nullable: false),
                    period_start = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    period_end = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    currency = table.Column<string>(type: "text", nullable: false),
                    total = table.Column<string>(type: "text", nullable: false),
                    document = table.Column<string>(type: "text", nullable: false),
                    last_seq = table.Column<long>(type: "bigint", nullable: false),
                    chain_head = table.Column<string>(type: "text", nullable: false),
                    events_hash = table.Column<string>(type: "text", nullable: false),
                    event_count = table.Column<int>(type: "integer", nullable: false),
                    issued_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_invoices", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "spot_price_points",
                columns: table => new
                {
                    region = table.Column<string>(type: "text", nullable: false),
                    gpu_model = table.Column<string>(type: "text", nullable: false),
                    time = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    per_gpu_hour = table.Column<decimal>(type: "numeric(18,6)", precision: 18, scale: 6, nullable: false),
                    used_milli_gpus = table.Column<long>(type: "bigint", nullable: false),
                    total_milli_gpus = table.Column<long>(type: "bigint", nullable: false),
                    sheet_version = table.Column<int>(type: "integer", nullable: false)
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
