; Inno Setup script for Fine-Tune Studio (run on Windows after `python packaging\build.py`).
; iscc /DAppVersion=0.1.0 packaging\windows\finetune-studio.iss
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{7C1E5B0A-2F4D-4C53-9E0B-F1E7A8C4D2B6}
AppName=Fine-Tune Studio
AppVersion={#AppVersion}
AppPublisher=Fine-Tune Studio
DefaultDirName={autopf}\Fine-Tune Studio
DefaultGroupName=Fine-Tune Studio
OutputDir=..\..\dist
OutputBaseFilename=FineTuneStudio-{#AppVersion}-setup
SetupIconFile=..\..\resources\icons\app.ico
UninstallDisplayIcon={app}\FineTuneStudio.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesInstallIn64BitMode=x64compatible
ChangesAssociations=yes

[Files]
Source: "..\..\dist\FineTuneStudio\*"; DestDir: "{app}"; Flags: recursesubdirs createallsubdirs ignoreversion

[Icons]
Name: "{group}\Fine-Tune Studio"; Filename: "{app}\FineTuneStudio.exe"
Name: "{group}\Uninstall Fine-Tune Studio"; Filename: "{uninstallexe}"
Name: "{autodesktop}\Fine-Tune Studio"; Filename: "{app}\FineTuneStudio.exe"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked
Name: "jsonlassoc"; Description: "Open .jsonl datasets with Fine-Tune Studio"

[Registry]
Root: HKA; Subkey: "Software\Classes\.jsonl\OpenWithProgids"; ValueType: string; ValueName: "FineTuneStudio.jsonl"; ValueData: ""; Flags: uninsdeletevalue; Tasks: jsonlassoc
Root: HKA; Subkey: "Software\Classes\FineTuneStudio.jsonl"; ValueType: string; ValueName: ""; ValueData: "JSON Lines dataset"; Flags: uninsdeletekey; Tasks: jsonlassoc
Root: HKA; Subkey: "Software\Classes\FineTuneStudio.jsonl\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\FineTuneStudio.exe,0"; Tasks: jsonlassoc
Root: HKA; Subkey: "Software\Classes\FineTuneStudio.jsonl\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\FineTuneStudio.exe"" ""%1"""; Tasks: jsonlassoc

[Run]
Filename: "{app}\FineTuneStudio.exe"; Description: "Start Fine-Tune Studio"; Flags: nowait postinstall skipifsilent
