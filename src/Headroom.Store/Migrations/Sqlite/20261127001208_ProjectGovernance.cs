using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Headroom.Store.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class ProjectGovernance : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<bool>(
                name: "estimated",
                table: "usage_entries",
                type: "INTEGER",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<string>(
                name: "regions",
                table: "projects",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "retention_days",
                table: "projects",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "training",
                table: "projects",
                type: "TEXT",
                nullable: false,
                defaultValue: "never");

            migrationBuilder.CreateTable(
                name: "request_logs",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    request_id = table.Column<string>(type: "TEXT", nullable: false),
                    org_id = table.Column<string>(type: "TEXT", nullable: false),
                    project_id = table.Column<string>(type: "TEXT", nullable: false),
                    model = table.Column<string>(type: "TEXT", nullable: false),
                    operation = table.Column<string>(type: "TEXT", nullable: false),
                    api_key_id = table.Column<string>(type: "TEXT", nullable: true),
                    actor = table.Column<string>(type: "TEXT", nullable: false),
                    region = table.Column<string>(type: "TEXT", nullable: true),
                    stream = table.Column<bool>(type: "INTEGER", nullable: false),
                    input_tokens = table.Column<long>(type: "INTEGER", nullable: false),
                    output_tokens = table.Column<long>(type: "INTEGER", nullable: false),
                    estimated = table.Column<bool>(type: "INTEGER", nullable: false),
                    status = table.Column<int>(type: "INTEGER", nullable: false),
                    started_at = table.Column<long>(type: "INTEGER", nullable: false),
                    completed_at = table.Column<long>(type: "INTEGER", nullable: false),
                    request_body = table.Column<string>(type: "TEXT", nullable: false),
                    response_body = table.Column<string>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_request_logs", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_request_logs_completed_at",
                table: "request_logs",
                column: "completed_at");

            migrationBuilder.CreateIndex(
                name: "ix_request_logs_project_id_id",
                table: "request_logs",
                columns: new[] { "project_id", "id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "request_logs");

            migrationBuilder.DropColumn(
                name: "estimated",
                table: "usage_entries");

            migrationBuilder.DropColumn(
                name: "regions",
                table: "projects");

            migrationBuilder.DropColumn(
                name: "retention_days",
                table: "projects");

            migrationBuilder.DropColumn(
                name: "training",
                table: "projects");
        }
    }
}
