using Headroom.Core.Fleet;

namespace Headroom.Core.Tests.Fleet;

public sealed class GpuCatalogTests
{
    [Theory]
    [InlineData("NVIDIA H100 80GB HBM3", "h100-80gb")]
    [InlineData("NVIDIA H100 PCIe", "h100-80gb")]
    [InlineData("NVIDIA H200", "h200-141gb")]
    [InlineData("NVIDIA A100-SXM4-80GB", "a100-80gb")]
    [InlineData("A100-SXM4-80GB", "a100-80gb")]
    [InlineData("NVIDIA A100 80GB PCIe", "a100-80gb")]
    [InlineData("NVIDIA A100-SXM4-40GB", "a100-40gb")]
    [InlineData("NVIDIA A100-PCIE-40GB", "a100-40gb")]
    [InlineData("nvidia l40s", "l40s-48gb")]
    [InlineData("NVIDIA L4", "l4-24gb")]
    [InlineData("NVIDIA B200", "b200-180gb")]
    [InlineData("  NVIDIA   H100 80GB HBM3 ", "h100-80gb")]
    public void Maps_nvidia_smi_product_names_to_model_ids(string productName, string modelId) =>
        Assert.Equal(modelId, GpuCatalog.BuiltIn.ModelIdFor(productName));

    [Theory]
    [InlineData("NVIDIA GeForce RTX 4090")]
    [InlineData("NVIDIA H100 NVL")]
    [InlineData("NVIDIA L40")]
    [InlineData("")]
    public void Unknown_products_have_no_model(string productName) =>
        Assert.Null(GpuCatalog.BuiltIn.ModelIdFor(productName));

    [Fact]
    public void Built_in_catalog_has_the_h100_as_nvidia_smi_reports_it()
    {
        var h100 = GpuCatalog.BuiltIn.Find("h100-80gb");
        Assert.NotNull(h100);
        Assert.Equal("NVIDIA H100 80GB HBM3", h100.Name);
        Assert.Equal(81559, h100.MemoryMiB);
        Assert.Equal(
            ["h100-80gb", "h200-141gb", "a100-80gb", "a100-40gb", "l40s-48gb", "l4-24gb", "b200-180gb"],
            GpuCatalog.BuiltIn.Models.Select(m => m.Id));
    }

    [Fact]
    public void Declared_models_extend_the_catalog_and_their_aliases_map()
    {
        var catalog = GpuCatalog.BuiltIn.With([new GpuModel("h100-nvl-94gb", "NVIDIA H100 NVL", 95830) { Aliases = ["H100-NVL"] }]);

        Assert.Equal("h100-nvl-94gb", catalog.ModelIdFor("NVIDIA H100 NVL"));
        Assert.Equal("h100-nvl-94gb", catalog.ModelIdFor("H100 NVL"));
        Assert.Equal("h100-80gb", catalog.ModelIdFor("NVIDIA H100 80GB HBM3"));
        Assert.Null(GpuCatalog.BuiltIn.Find("h100-nvl-94gb"));
    }
}
