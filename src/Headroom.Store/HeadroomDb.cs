using System.Text;
using Headroom.Store.Api;
using Headroom.Store.Audit;
using Headroom.Store.Batches;
using Headroom.Store.Billing;
using Headroom.Store.Coordination;
using Headroom.Store.Fleet;
using Headroom.Store.Identity;
using Headroom.Store.Deployments;
using Headroom.Store.Jobs;
using Headroom.Store.Models;
using Headroom.Store.Reservations;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Store;

/// <summary>
/// Headroom's state. One model, two providers: <see cref="SqliteHeadroomDb"/> (embedded default) and
/// <see cref="PostgresHeadroomDb"/> (several control-plane replicas), each with its own migrations.
/// Tables and columns are snake_case so hand-written SQL on hot paths reads naturally.
/// </summary>
public abstract class HeadroomDb(DbContextOptions options) : DbContext(options)
{
    public override int SaveChanges(bool acceptAllChangesOnSuccess)
    {
        StampIdempotencyClaim();
        return base.SaveChanges(acceptAllChangesOnSuccess);
    }

    public override Task<int> SaveChangesAsync(bool acceptAllChangesOnSuccess, CancellationToken cancellationToken = default)
    {
        StampIdempotencyClaim();
        return base.SaveChangesAsync(acceptAllChangesOnSuccess, cancellationToken);
    }

    // Writes made for a request holding an Idempotency-Key mark its claim applied in the same transaction: either both
    // are committed or neither is (see IdempotencyClaim).
    private void StampIdempotencyClaim()
    {
        if (IdempotencyClaim.Current is not { } claim)
            return;
        if (!ChangeTracker.Entries().Any(e => e.State is EntityState.Added or EntityState.Modified or EntityState.Deleted && e.Entity is not IdempotencyRow))
            return;
        var entry = ChangeTracker.Entries<IdempotencyRow>().FirstOrDefault(e => e.Entity.OrgId == claim.OrgId && e.Entity.Key == claim.Key)
            ?? Attach(new IdempotencyRow { OrgId = claim.OrgId, Key = claim.Key, RequestHash = "", Body = [] });
        entry.Property(r => r.AppliedAt).CurrentValue = claim.At;
        entry.Property(r => r.AppliedAt).IsModified = true;
    }

    public DbSet<OrgRow> Orgs => Set<OrgRow>();
    public DbSet<ProjectRow> Projects => Set<ProjectRow>();
    public DbSet<MemberRow> Members => Set<MemberRow>();
    public DbSet<ApiKeyRow> ApiKeys => Set<ApiKeyRow>();
    public DbSet<RegionRow> Regions => Set<RegionRow>();
    public DbSet<ClusterRow> Clusters => Set<ClusterRow>();
    public DbSet<NodeRow> Nodes => Set<NodeRow>();
    public DbSet<GpuRow> Gpus => Set<GpuRow>();
    public DbSet<AuditRow> AuditRecords => Set<AuditRow>();
    public DbSet<IdempotencyRow> IdempotencyRecords => Set<IdempotencyRow>();
    public DbSet<LeaseRow> Leases => Set<LeaseRow>();
    public DbSet<JobRow> Jobs => Set<JobRow>();
    public DbSet<JobEventRow> JobEvents => Set<JobEventRow>();
    public DbSet<DeploymentRow> Deployments => Set<DeploymentRow>();
    public DbSet<PriceSheetVersionRow> PriceSheetVersions => Set<PriceSheetVersionRow>();
    public DbSet<UsageEntryRow> UsageEntries => Set<UsageEntryRow>();
    public DbSet<QuoteRow> Quotes => Set<QuoteRow>();
    public DbSet<ReservationRow> Reservations => Set<ReservationRow>();
    public DbSet<SpotPricePointRow> SpotPricePoints => Set<SpotPricePointRow>();
    public DbSet<InvoiceRow> Invoices => Set<InvoiceRow>();
    public DbSet<BudgetRow> Budgets => Set<BudgetRow>();
    public DbSet<BudgetSpendRow> BudgetSpend => Set<BudgetSpendRow>();
    public DbSet<BudgetLeaseRow> BudgetLeases => Set<BudgetLeaseRow>();
    public DbSet<BudgetEventRow> BudgetEvents => Set<BudgetEventRow>();
    public DbSet<TokenJournalRow> TokenJournal => Set<TokenJournalRow>();
    public DbSet<RateWindowRow> RateWindows => Set<RateWindowRow>();
    public DbSet<RateLeaseRow> RateLeases => Set<RateLeaseRow>();
    public DbSet<FileRow> Files => Set<FileRow>();
    public DbSet<FileContentRow> FileContents => Set<FileContentRow>();
    public DbSet<BatchRow> Batches => Set<BatchRow>();
    public DbSet<RequestLogRow> RequestLogs => Set<RequestLogRow>();

    public abstract StoreProvider Provider { get; }

    protected override void OnModelCreating(ModelBuilder b)
    {
        b.Entity<OrgRow>(e =>
        {
            e.ToTable("orgs");
            e.HasKey(x => x.Id);
            e.HasIndex(x => x.Name).IsUnique();
        });
        b.Entity<ProjectRow>(e =>
        {
            e.ToTable("projects");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.OrgId, x.Name }).IsUnique();
            e.HasOne<OrgRow>().WithMany().HasForeignKey(x => x.OrgId).OnDelete(DeleteBehavior.Restrict);
            e.Property(x => x.Training).HasDefaultValue("never");
        });
        b.Entity<MemberRow>(e =>
        {
            e.ToTable("members");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.OrgId, x.Email }).IsUnique();
            e.HasIndex(x => x.Email);
            e.HasOne<OrgRow>().WithMany().HasForeignKey(x => x.OrgId).OnDelete(DeleteBehavior.Restrict);
        });
        b.Entity<ApiKeyRow>(e =>
        {
            e.ToTable("api_keys");
            e.HasKey(x => x.Id);
            e.HasIndex(x => x.LookupId).IsUnique();
            e.HasIndex(x => new { x.OrgId, x.Id });
            e.HasOne<OrgRow>().WithMany().HasForeignKey(x => x.OrgId).OnDelete(DeleteBehavior.Restrict);
            // No foreign key to projects: a revoked key outlives a deleted project as part of the record.
            e.HasIndex(x => x.ProjectId);
        });
        b.Entity<RegionRow>(e =>
        {
            e.ToTable("regions");
            e.HasKey(x => x.Name);
        });
        b.Entity<ClusterRow>(e =>
        {
            e.ToTable("clusters");
            e.HasKey(x => x.Name);
            e.HasOne<RegionRow>().WithMany().HasForeignKey(x => x.Region).OnDelete(DeleteBehavior.Restrict);
        });
        b.Entity<NodeRow>(e =>
        {
            e.ToTable("nodes");
            e.HasKey(x => x.Name);
            e.HasOne<ClusterRow>().WithMany().HasForeignKey(x => x.Cluster).OnDelete(DeleteBehavior.Restrict);
            e.HasIndex(x => new { x.Region, x.GpuModel });
        });
        b.Entity<GpuRow>(e =>
        {
            e.ToTable("gpus");
            e.HasKey(x => new { x.Node, x.Index });
            e.HasOne<NodeRow>().WithMany().HasForeignKey(x => x.Node).OnDelete(DeleteBehavior.Cascade);
        });
        b.Entity<AuditRow>(e =>
        {
            e.ToTable("audit_records");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.OrgId, x.Seq }).IsUnique();
            e.HasIndex(x => new { x.OrgId, x.Time });
        });
        b.Entity<IdempotencyRow>(e =>
        {
            e.ToTable("idempotency_records");
            e.HasKey(x => new { x.OrgId, x.Key });
            e.HasIndex(x => x.CreatedAt);
        });
        b.Entity<LeaseRow>(e =>
        {
            e.ToTable("leases");
            e.HasKey(x => x.Name);
        });
        b.Entity<JobRow>(e =>
        {
            e.ToTable("jobs");
            e.HasKey(x => x.Id);
            e.Property(x => x.Version).IsConcurrencyToken();
            e.HasIndex(x => new { x.OrgId, x.Id });
            e.HasIndex(x => x.State);
            e.HasIndex(x => x.DeploymentId);
            e.HasOne<OrgRow>().WithMany().HasForeignKey(x => x.OrgId).OnDelete(DeleteBehavior.Restrict);
        });
        b.Entity<DeploymentRow>(e =>
        {
            e.ToTable("deployments");
            e.HasKey(x => x.Id);
            e.Property(x => x.Version).IsConcurrencyToken();
            e.HasIndex(x => new { x.OrgId, x.Id });
            e.HasIndex(x => x.State);
            e.HasOne<OrgRow>().WithMany().HasForeignKey(x => x.OrgId).OnDelete(DeleteBehavior.Restrict);
        });
        b.Entity<JobEventRow>(e =>
        {
            e.ToTable("job_events");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.JobId, x.Id });
        });
        b.Entity<PriceSheetVersionRow>(e =>
        {
            e.ToTable("price_sheet_versions");
            e.HasKey(x => x.Number);
            e.Property(x => x.Number).ValueGeneratedNever();
            e.HasIndex(x => x.EffectiveFrom).IsUnique();
        });
        b.Entity<UsageEntryRow>(e =>
        {
            e.ToTable("usage_entries");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.OrgId, x.Seq }).IsUnique();
            e.HasIndex(x => new { x.OrgId, x.Start });
        });
        b.Entity<QuoteRow>(e =>
        {
            e.ToTable("quotes");
            e.HasKey(x => x.Id);
            e.Property(x => x.Price).HasPrecision(28, 10);
            e.HasIndex(x => new { x.OrgId, x.Id });
        });
        b.Entity<ReservationRow>(e =>
        {
            e.ToTable("reservations");
            e.HasKey(x => x.Id);
            e.Property(x => x.Price).HasPrecision(28, 10);
            e.Property(x => x.Refund).HasPrecision(28, 10);
            e.HasIndex(x => x.QuoteId).IsUnique();
            e.HasIndex(x => new { x.OrgId, x.Id });
            e.HasIndex(x => new { x.Region, x.GpuModel, x.End });
        });
        b.Entity<SpotPricePointRow>(e =>
        {
            e.ToTable("spot_price_points");
            e.HasKey(x => new { x.Region, x.GpuModel, x.Time });
            e.Property(x => x.PerGpuHour).HasPrecision(18, 6);
            e.HasIndex(x => x.Time);
        });
        b.Entity<InvoiceRow>(e =>
        {
            e.ToTable("invoices");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.OrgId, x.PeriodStart }).IsUnique();
            e.HasIndex(x => new { x.OrgId, x.Id });
        });
        b.Entity<BudgetRow>(e =>
        {
            e.ToTable("budgets");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.OrgId, x.Id });
        });
        b.Entity<BudgetSpendRow>(e =>
        {
            e.ToTable("budget_spend");
            e.HasKey(x => new { x.BudgetId, x.PeriodStart });
        });
        b.Entity<BudgetLeaseRow>(e =>
        {
            e.ToTable("budget_leases");
            e.HasKey(x => new { x.LeaseId, x.BudgetId });
            e.HasIndex(x => new { x.Settled, x.CreatedAt });
        });
        b.Entity<BudgetEventRow>(e =>
        {
            e.ToTable("budget_events");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.BudgetId, x.Id });
            e.HasIndex(x => new { x.Delivery, x.NextAttemptAt });
        });
        b.Entity<TokenJournalRow>(e =>
        {
            e.ToTable("token_journal");
            e.HasKey(x => x.RequestId);
            e.HasIndex(x => x.MeteredAt);
        });
        b.Entity<RequestLogRow>(e =>
        {
            e.ToTable("request_logs");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.ProjectId, x.Id });
            e.HasIndex(x => x.CompletedAt);
        });
        b.Entity<RateWindowRow>(e =>
        {
            e.ToTable("rate_windows");
            e.HasKey(x => new { x.Scope, x.WindowStart });
        });
        b.Entity<RateLeaseRow>(e =>
        {
            e.ToTable("rate_leases");
            e.HasKey(x => new { x.Scope, x.RequestId });
            e.HasIndex(x => new { x.Scope, x.ExpiresAt });
        });
        b.Entity<FileRow>(e =>
        {
            e.ToTable("files");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.OrgId, x.Id });
            e.HasOne<OrgRow>().WithMany().HasForeignKey(x => x.OrgId).OnDelete(DeleteBehavior.Restrict);
        });
        b.Entity<FileContentRow>(e =>
        {
            e.ToTable("file_contents");
            e.HasKey(x => x.FileId);
            e.HasOne<FileRow>().WithOne().HasForeignKey<FileContentRow>(x => x.FileId).OnDelete(DeleteBehavior.Cascade);
        });
        b.Entity<BatchRow>(e =>
        {
            e.ToTable("batches");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.OrgId, x.Id });
            e.HasIndex(x => x.Status);
            e.HasIndex(x => x.ApiKeyId);
            e.HasOne<OrgRow>().WithMany().HasForeignKey(x => x.OrgId).OnDelete(DeleteBehavior.Restrict);
        });

        foreach (var entity in b.Model.GetEntityTypes())
        {
            foreach (var property in entity.GetProperties())
                property.SetColumnName(SnakeCase(property.Name));
            foreach (var key in entity.GetKeys())
                key.SetName("pk_" + entity.GetTableName());
            foreach (var index in entity.GetIndexes())
                index.SetDatabaseName($"ix_{entity.GetTableName()}_{string.Join('_', index.Properties.Select(p => SnakeCase(p.Name)))}");
            foreach (var fk in entity.GetForeignKeys())
                fk.SetConstraintName($"fk_{entity.GetTableName()}_{string.Join('_', fk.Properties.Select(p => SnakeCase(p.Name)))}");
        }
    }

    internal static string SnakeCase(string name)
    {
        var sb = new StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsUpper(c))
            {
                if (i > 0 && !char.IsUpper(name[i - 1]))
                    sb.Append('_');
                sb.Append(char.ToLowerInvariant(c));
            }
            else
            {
                sb.Append(c);
            }
        }
        return sb.ToString();
    }
}

public enum StoreProvider { Sqlite, Postgres }
