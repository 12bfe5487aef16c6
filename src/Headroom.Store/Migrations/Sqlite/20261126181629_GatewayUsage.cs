using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Headroom.Store.Migrations.Sqlite
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
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "model_requests_per_minute",
                table: "projects",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "model_tokens_per_minute",
                table: "projects",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "rate_leases",
                columns: table => new
                {
                    scope = table.Column<string>(type: "TEXT", nullable: false),
                    request_id = table.Column<string>(type: "TEXT", nullable: false),
                    expires_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_rate_leases", x => new { x.scope, x.request_id });
                });

            migrationBuilder.CreateTable(
                name: "rate_windows",
                columns: table => new
                {
                    scope = table.Column<string>(type: "TEXT", nullable: false),
                    window_start = table.Column<long>(type: "INTEGER", nullable: false),
                    requests = table.Column<long>(type: "INTEGER", nullable: false),
                    tokens = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_rate_windows", x => new { x.scope, x.window_start });
                });

            migrationBuilder.CreateTable(
                name: "token_journal",
                columns: table => new
                {
                    request_id = table.Column<string>(type: "TEXT", nullable: false),
                    org_id = table.Column<string>(type: "TEXT", nullable: false),
                    project_id = table.Column<string>(type: "TEXT", nullable: false),
                    api_key_id = table.Column<string>(type: "TEXT", nullable: true),
                    actor = table.Column<string>(type: "TEXT", nullable: false),
                    model = table.Column<string>(type: "TEXT", nullable: false),
                    region = table.Column<string>(type: "TEXT", nullable: true),
                    input_tokens = table.Column<long>(type: "INTEGER", nullable: false),
                    output_tokens = table.Column<long>(type: "INTEGER", nullable: false),
                    estimated = table.Column<bool>(type: "INTEGER", nullable: false),
                    served_at = table.Column<long>(type: "INTEGER", nullable: false),
                    metered_at = table.Column<long>(type: "INTEGER", nullable: true)
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
