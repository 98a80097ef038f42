; Inno Setup 6 script for CV Studio: wraps the PyInstaller folder dist\cvstudio into one setup.exe.
; Run through packaging\windows\build.ps1, which passes the defines below; by hand:
;   iscc /DAppVersion=0.1.0 /DSourceDir=C:\src\cvstudio\dist\cvstudio /DOutputDir=C:\src\cvstudio\dist ^
;        /DIconFile=C:\src\cvstudio\resources\cvstudio.ico packaging\windows\cvstudio.iss
; NOT TESTED: written on Linux (see README, "Installing / packaging").

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\cvstudio"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif
#ifndef IconFile
  #define IconFile "..\..\resources\cvstudio.ico"
#endif

[Setup]
AppId={{6B0E8F9A-2C41-4E7B-9D3A-5C1F0E2B7A11}
AppName=CV Studio
AppVersion={#AppVersion}
AppPublisher=CV Studio
AppComments=A desktop workbench for hands-on computer vision with PyTorch
DefaultDirName={autopf}\CV Studio
DefaultGroupName=CV Studio
DisableProgramGroupPage=yes
; per-user install by default (no administrator rights needed); the dialog offers all users
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename=CVStudio-{#AppVersion}-setup
SetupIconFile={#IconFile}
UninstallDisplayIcon={app}\cvstudio.exe
Compression=lzma2/max
SolidCompression=yes
LZMANumBlockThreads=4
WizardStyle=modern
ChangesAssociations=yes
ChangesEnvironment=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "association"; Description: "Open .safetensors checkpoints with CV Studio"; GroupDescription: "File types:"
Name: "path"; Description: "Add cvstudio-cli to PATH (for the command line)"; GroupDescription: "Command line:"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\CV Studio"; Filename: "{app}\cvstudio.exe"; Parameters: "gui"
Name: "{group}\Uninstall CV Studio"; Filename: "{uninstallexe}"
Name: "{autodesktop}\CV Studio"; Filename: "{app}\cvstudio.exe"; Parameters: "gui"; Tasks: desktopicon

[Registry]
Root: HKA; Subkey: "Software\Classes\.safetensors\OpenWithProgids"; ValueType: string; ValueName: "CVStudio.Checkpoint"; ValueData: ""; Flags: uninsdeletevalue; Tasks: association
Root: HKA; Subkey: "Software\Classes\CVStudio.Checkpoint"; ValueType: string; ValueName: ""; ValueData: "CV Studio checkpoint"; Flags: uninsdeletekey; Tasks: association
Root: HKA; Subkey: "Software\Classes\CVStudio.Checkpoint\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\cvstudio.exe,0"; Tasks: association
Root: HKA; Subkey: "Software\Classes\CVStudio.Checkpoint\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\cvstudio.exe"" gui ""%1"""; Tasks: association
Root: HKA; Subkey: "Software\Classes\Applications\cvstudio.exe\SupportedTypes"; ValueType: string; ValueName: ".safetensors"; ValueData: ""; Tasks: association
Root: HKCU; Subkey: "Environment"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; Check: NeedsAddPath(ExpandConstant('{app}')); Tasks: path

[Run]
Filename: "{app}\cvstudio.exe"; Parameters: "gui"; Description: "{cm:LaunchProgram,CV Studio}"; Flags: nowait postinstall skipifsilent

[Code]
function NeedsAddPath(Dir: string): Boolean;
var
  Paths: string;
begin
  if not RegQueryStringValue(HKEY_CURRENT_USER, 'Environment', 'Path', Paths) then
    Paths := '';
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Paths) + ';') = 0;
end;
