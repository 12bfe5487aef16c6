namespace Headroom.Tests;

/// <summary>Fleet files the tests start servers with.</summary>
public static class TestFleets
{
    /// <summary>One node, <c>box-1</c>, run by the local runtime: its GPUs are declared, so jobs run here as processes.</summary>
    public static string LocalBox(int gpus) => $$"""
        regions:
          - name: local
            clusters:
              - name: box
                runtime: local
                nodes:
                  - name: box-1
                    gpu_model: h100-80gb
                    gpu_count: {{gpus}}
                    cpu_millicores: 8000
                    memory_mib: 16384
        """;
}
