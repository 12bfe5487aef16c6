using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Headroom.Store.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class Billing : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "placement",
                table: "job_events",
                type: "text",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "price_sheet_versions",
                columns: table => new
                {
                    number = table.Column<int>(type: "integer", nullable: false),
                    effective_from = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    currency = table.Column<string>(type: "text", nullable: false),
                    draft = table.Column<string>(type: "text", nullable: false),
                    published_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    published_by = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_price_sheet_versions", x => x.number);
                });

            migrationBuilder.CreateTable(
                name: "usage_entries",
                columns: table => new
                {
                    id = table.Column<string>(type: "text", nullable: false),
                    org_id = table.Column<string>(type: "text", nullable: false),
                    seq = table.Column<long>(type: "bigint", nullable: false),
                    project_id = table.Column<string>(type: "text", nullable: false),
                    meter = table.Column<string>(type: "text", nullable: false),
                    quantity = table.Column<long>(type: "bigint", nullable: false),
                    tier = table.Column<string>(type: "text", nullable: true),
                    gpu_model = table.Column<string>(type: "text", nullable: true),
                    region = table.Column<string>(type: "text", nullable: true),
                    model = table.Column<string>(type: "text", nullable: true),
                    api_key_id = table.Column<string>(type: "text", nullable: true),
                    batch = table.Column<bool>(type: "boolean", nullable: false),
                    start = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    end = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    not_charged_from = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    recorded_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    prev_hash = table.Column<string>(type: "text", nullable: false),
                    hash = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_usage_entries", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_price_sheet_versions_effective_from",
                table: "price_sheet_versions",
                column: "effective_from",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_usage_entries_org_id_seq",
                table: "usage_entries",
                columns: new[] { "org_id", "seq" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_usage_entries_org_id_start",
                table: "usage_entries",
                columns: new[] { "org_id", "start" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "price_sheet_versions");

            migrationBuilder.DropTable(
                name: "usage_entries");

            migrationBuilder.DropColumn(
                name: "placement",
                table: "job_events");
        }
    }
}
