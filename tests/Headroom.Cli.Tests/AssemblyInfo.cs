// The suite drives real Unix processes (signals, file modes) and engines that run on Linux.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
