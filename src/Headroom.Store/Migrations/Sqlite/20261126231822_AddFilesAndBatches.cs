using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Headroom.Store.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class AddFilesAndBatches : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<bool>(
                name: "batch",
                table: "token_journal",
                type: "INTEGER",
                nullable: false,
                defaultValue: false);

            migrationBuilder.CreateTable(
                name: "batches",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    org_id = table.Column<string>(type: "TEXT", nullable: false),
                    project_id = table.Column<string>(type: "TEXT", nullable: false),
                    endpoint = table.Column<string>(type: "TEXT", nullable: false),
                    input_file_id = table.Column<string>(type: "TEXT", nullable: false),
                    completion_window = table.Column<string>(type: "TEXT", nullable: false),
                    status = table.Column<string>(type: "TEXT", nullable: false),
                    errors = table.Column<string>(type: "TEXT", nullable: true),
                    metadata = table.Column<string>(type: "TEXT", nullable: true),
                    output_file_id = table.Column<string>(type: "TEXT", nullable: true),
                    error_file_id = table.Column<string>(type: "TEXT", nullable: true),
                    job_id = table.Column<string>(type: "TEXT", nullable: true),
                    api_key_id = table.Column<string>(type: "TEXT", nullable: true),
                    total_requests = table.Column<int>(type: "INTEGER", nullable: false),
                    completed_requests = table.Column<int>(type: "INTEGER", nullable: false),
                    failed_requests = table.Column<int>(type: "INTEGER", nullable: false),
                    created_by = table.Column<string>(type: "TEXT", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    expires_at = table.Column<long>(type: "INTEGER", nullable: false),
                    in_progress_at = table.Column<long>(type: "INTEGER", nullable: true),
                    finalizing_at = table.Column<long>(type: "INTEGER", nullable: true),
                    completed_at = table.Column<long>(type: "INTEGER", nullable: true),
                    failed_at = table.Column<long>(type: "INTEGER", nullable: true),
                    expired_at = table.Column<long>(type: "INTEGER", nullable: true),
                    cancelling_at = table.Column<long>(type: "INTEGER", nullable: true),
                    cancelled_at = table.Column<long>(type: "INTEGER", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_batches", x => x.id);
                    table.ForeignKey(
                        name: "fk_batches_org_id",
                        column: x => x.org_id,
                        principalTable: "orgs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "files",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    org_id = table.Column<string>(type: "TEXT", nullable: false),
                    project_id = table.Column<string>(type: "TEXT", nullable: false),
                    purpose = table.Column<string>(type: "TEXT", nullable: false),
                    filename = table.Column<string>(type: "TEXT", nullable: false),
                    bytes = table.Column<long>(type: "INTEGER", nullable: false),
                    sha256 = table.Column<string>(type: "TEXT", nullable: false),
                    created_by = table.Column<string>(type: "TEXT", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_files", x => x.id);
                    table.ForeignKey(
                        name: "fk_files_org_id",
                        column: x => x.org_id,
                        principalTable: "orgs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "file_contents",
                columns: table => new
                {
                    file_id = table.Column<string>(type: "TEXT", nullable: false),
                    content = table.Column<byte[]>(type: "BLOB", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_file_contents", x => x.file_id);
                    table.ForeignKey(
                        name: "fk_file_contents_file_id",
                        column: x => x.file_id,
                        principalTable: "files",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_batches_api_key_id",
                table: "batches",
                column: "api_key_id");

            migrationBuilder.CreateIndex(
                name: "ix_batches_org_id_id",
                table: "batches",
                columns: new[] { "org_id", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_batches_status",
                table: "batches",
                column: "status");

            migrationBuilder.CreateIndex(
                name: "ix_files_org_id_id",
                table: "files",
                columns: new[] { "org_id", "id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "batches");

            migrationBuilder.DropTable(
                name: "file_contents");

            migrationBuilder.DropTable(
                name: "files");

            migrationBuilder.DropColumn(
                name: "batch",
                table: "token_journal");
        }
    }
}
