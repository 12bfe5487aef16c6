using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Headroom.Store.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class Reservations : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "quotes",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    org_id = table.Column<string>(type: "TEXT", nullable: false),
                    tier = table.Column<string>(type: "TEXT", nullable: false),
                    region = table.Column<string>(type: "TEXT", nullable: false),
                    gpu_model = table.Column<string>(type: "TEXT", nullable: false),
                    gpu_count = table.Column<int>(type: "INTEGER", nullable: false),
                    start = table.Column<long>(type: "INTEGER", nullable: false),
                    end = table.Column<long>(type: "INTEGER", nullable: false),
                    price = table.Column<decimal>(type: "TEXT", precision: 28, scale: 10, nullable: false),
                    currency = table.Column<string>(type: "TEXT", nullable: false),
                    slices = table.Column<string>(type: "TEXT", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    expires_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_quotes", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "reservations",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    org_id = table.Column<string>(type: "TEXT", nullable: false),
                    project_id = table.Column<string>(type: "TEXT", nullable: false),
                    quote_id = table.Column<string>(type: "TEXT", nullable: false),
                    region = table.Column<string>(type: "TEXT", nullable: false),
                    gpu_model = table.Column<string>(type: "TEXT", nullable: false),
                    gpu_count = table.Column<int>(type: "INTEGER", nullable: false),
                    start = table.Column<long>(type: "INTEGER", nullable: false),
                    end = table.Column<long>(type: "INTEGER", nullable: false),
                    price = table.Column<decimal>(type: "TEXT", precision: 28, scale: 10, nullable: false),
                    currency = table.Column<string>(type: "TEXT", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    created_by = table.Column<string>(type: "TEXT", nullable: false),
                    cancelled_at = table.Column<long>(type: "INTEGER", nullable: true),
                    refund = table.Column<decimal>(type: "TEXT", precision: 28, scale: 10, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_reservations", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_quotes_org_id_id",
                table: "quotes",
                columns: new[] { "org_id", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_reservations_org_id_id",
                table: "reservations",
                columns: new[] { "org_id", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_reservations_quote_id",
                table: "reservations",
                column: "quote_id",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_reservations_region_gpu_model_end",
                table: "reservations",
                columns: new[] { "region", "gpu_model", "end" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "quotes");

            migrationBuilder.DropTable(
                name: "reservations");
        }
    }
}
