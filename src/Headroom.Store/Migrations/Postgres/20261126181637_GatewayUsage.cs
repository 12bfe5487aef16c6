using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Headroom.Store.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class GatewayUsage : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "model_concurrent_requests",
                table: "projects",
                type: "integer",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "model_requests_per_minute",
                table: "projects",
                type: "integer",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "model_tokens_per_minute",
                table: "projects",
                type: "integer",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "rate_leases",
                columns: table => new
                {
                    scope = table.Column<string>(type: "text", nullable: false),
                    request_id = table.Column<string>(type: "text", nullable: false),
                    expires_at = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_rate_leases", x => new { x.scope, x.request_id });
                });

            migrationBuilder.CreateTable(
                name: "rate_windows",
                columns: table => new
                {
                    scope = table.Column<string>(type: "text", nullable: false),
                    window_start = table.Column<long>(type: "bigint", nullable: false),
                    requests = table.Column<long>(type: "bigint", nullable: false),
                    tokens = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_rate_windows", x => new { x.scope, x.window_start });
                });

            migrationBuilder.CreateTable(
                name: "token_journal",
                columns: table => new
                {
                    request_id = table.Column<string>(type: "text", nullable: false),
                    org_id = table.Column<string>(type: "text", nullable: false),
                    project_id = table.Column<string>(type: "text", nullable: false),
                    api_key_id = table.Column<string>(type: "text", nullable: true),
                    actor = table.Column<string>(type: "text", nullable: false),
                    model = table.Column<string>(type: "text", nullable: false),
                    region = table.Column<string>(type: "text", nullable: true),
                    input_tokens = table.Column<long>(type: "bigint", nullable: false),
                    output_tokens = table.Column<long>(type: "bigint", nullable: false),
                    estimated = table.Column<bool>(type: "boolean", nullable: false),
                    served_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    metered_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_token_journal", x => x.request_id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_rate_leases_scope_expires_at",
                table: "rate_leases",
                columns: new[] { "scope", "expires_at" });

            migrationBuilder.CreateIndex(
                name: "ix_token_journal_metered_at",
                table: "token_journal",
                column: "metered_at");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "rate_leases");

            migrationBuilder.DropTable(
                name: "rate_windows");

            migrationBuilder.DropTable(
                name: "token_journal");

            migrationBuilder.DropColumn(
                name: "model_concurrent_requests",
                table: "projects");

            migrationBuilder.DropColumn(
                name: "model_requests_per_minute",
                table: "projects");

            migrationBuilder.DropColumn(
                name: "model_tokens_per_minute",
                table: "projects");
        }
    }
}
