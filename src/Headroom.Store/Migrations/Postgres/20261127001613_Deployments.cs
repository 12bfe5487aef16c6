using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Headroom.Store.Migrations.Postgres
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
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "deployment_id",
                table: "jobs",
                type: "text",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "deployments",
                columns: table => new
                {
                    id = table.Column<string>(type: "text", nullable: false),
                    org_id = table.Column<string>(type: "text", nullable: false),
                    project_id = table.Column<string>(type: "text", nullable: false),
                    model = table.Column<string>(type: "text", nullable: false),
                    engine = table.Column<string>(type: "text", nullable: false),
                    billing = table.Column<string>(type: "text", nullable: false),
                    spec = table.Column<string>(type: "text", nullable: false),
                    min_replicas = table.Column<int>(type: "integer", nullable: false),
                    max_replicas = table.Column<int>(type: "integer", nullable: false),
                    desired_replicas = table.Column<int>(type: "integer", nullable: false),
                    state = table.Column<string>(type: "text", nullable: false),
                    scale_reason = table.Column<string>(type: "text", nullable: false),
                    draining = table.Column<string>(type: "text", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    updated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    last_scaled_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    deleted_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    version = table.Column<long>(type: "bigint", nullable: false)
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
