using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Headroom.Store.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class Deployments : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "dedicated_tier",
                table: "token_journal",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "deployment_id",
                table: "jobs",
                type: "TEXT",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "deployments",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    org_id = table.Column<string>(type: "TEXT", nullable: false),
                    project_id = table.Column<string>(type: "TEXT", nullable: false),
                    model = table.Column<string>(type: "TEXT", nullable: false),
                    engine = table.Column<string>(type: "TEXT", nullable: false),
                    billing = table.Column<string>(type: "TEXT", nullable: false),
                    spec = table.Column<string>(type: "TEXT", nullable: false),
                    min_replicas = table.Column<int>(type: "INTEGER", nullable: false),
                    max_replicas = table.Column<int>(type: "INTEGER", nullable: false),
                    desired_replicas = table.Column<int>(type: "INTEGER", nullable: false),
                    state = table.Column<string>(type: "TEXT", nullable: false),
                    scale_reason = table.Column<string>(type: "TEXT", nullable: false),
                    draining = table.Column<string>(type: "TEXT", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    updated_at = table.Column<long>(type: "INTEGER", nullable: false),
                    last_scaled_at = table.Column<long>(type: "INTEGER", nullable: false),
                    deleted_at = table.Column<long>(type: "INTEGER", nullable: true),
                    version = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_deployments", x => x.id);
                    table.ForeignKey(
                        name: "fk_deployments_org_id",
                        column: x => x.org_id,
                        principalTable: "orgs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateIndex(
                name: "ix_jobs_deployment_id",
                table: "jobs",
                column: "deployment_id");

            migrationBuilder.CreateIndex(
                name: "ix_deployments_org_id_id",
                table: "deployments",
                columns: new[] { "org_id", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_deployments_state",
                table: "deployments",
                column: "state");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "deployments");

            migrationBuilder.DropIndex(
                name: "ix_jobs_deployment_id",
                table: "jobs");

            migrationBuilder.DropColumn(
                name: "dedicated_tier",
                table: "token_journal");

            migrationBuilder.DropColumn(
                name: "deployment_id",
                table: "jobs");
        }
    }
}
