# memhil PYNQ-Z2 overlay, Vivado batch flow (called by the Makefile):
#   1. pack_ip: package hdl/*.sv + memhil_ip.v as IP memhil:user:memhil_ip:1.0
#   2. block design: Zynq PS (FCLK0 100 MHz, M_AXI_GP0, S_AXI_HP0), AXI DMA (simple mode, 8-bit
#      streams) whose MM2S feeds s_axis_cmd and whose S2MM takes m_axis_rsp, the IP's AXI4-Lite
#      and the DMA's registers on GP0, the DMA's memory ports on HP0
#   3. synth, impl; timing gate (setup WNS and hold WHS >= 0, else exit 1 before any bitstream);
#      write_bitstream; copy <name>.bit, <name>.hwh and the reports <name>.utilization.rpt,
#      <name>.timing.rpt side by side here
# The board part: BOARD=<vlnv> must be installed in Vivado (a missing one stops the build with
# how to install it); BOARD=none builds for the bare PART without the PYNQ-Z2 preset of the PS
# (its DDR and MIO settings then are Vivado's defaults: not for a real board).
# Untested here: no Vivado on the development machines (docs/rtl.md, docs/board.md).

lassign $argv name part board rows cols tiles lanes gw jobs plog2 bmax blmax
set here [file normalize [file dirname [info script]]]
set hdl  [file normalize "$here/../hdl"]
set bld  "$here/build"
file mkdir $bld

# ------------------------------------------------------------------ 1. pack_ip
create_project -force ip_pack "$bld/ip_pack" -part $part
set srcs [concat [list "$hdl/memhil_pkg.sv"] \
          [lsort [glob -nocomplain "$hdl/*.sv"]] [list "$here/memhil_ip.v"]]
set srcs [lsort -unique $srcs]
add_files -norecurse $srcs
set_property file_type SystemVerilog [get_files *.sv]
set_property top memhil_ip [current_fileset]
update_compile_order -fileset sources_1
ipx::package_project -root_dir "$bld/ip" -vendor memhil -library user -taxonomy /UserIP \
  -import_files -set_current true
set core [ipx::current_core]
set_property name memhil_ip $core
set_property version 1.0 $core
set_property display_name "memhil crossbar emulator" $core
foreach {p v} [list ROWS $rows COLS $cols TILES $tiles LANES $lanes G_W $gw \
                 PAYLOAD_LOG2 $plog2 BATCH_MAX $bmax BL_MAX $blmax] {
  set_property value $v [ipx::get_user_parameters $p -of_objects $core]
  set_property value $v [ipx::get_hdl_parameters $p -of_objects $core]
}
ipx::infer_bus_interfaces xilinx.com:interface:aximm_rtl:1.0 $core
ipx::infer_bus_interfaces xilinx.com:interface:axis_rtl:1.0 $core
ipx::create_xgui_files $core
ipx::update_checksums $core
ipx::check_integrity $core
ipx::save_core $core
close_project

# ------------------------------------------------------------------ 2. block design
create_project -force $name "$bld/$name" -part $part
if {$board ne "none"} {
  if {[llength [get_board_parts -quiet $board]] == 0} {
    puts stderr "ERROR: board part $board is not installed in this Vivado. Install the PYNQ-Z2\
      board files (https://github.com/Xilinx/XilinxBoardStore, or the pynq-z2 folder of TUL's\
      board files) into <Vivado>/data/boards/board_files or set_param board.repoPaths, or run\
      with BOARD=none (no PS preset: not for a real board)."
    exit 1
  }
  set_property board_part $board [current_project]
  if {[get_property board_part [current_project]] ne $board} {
    puts stderr "ERROR: could not set board_part $board on the project"
    exit 1
  }
  set preset 1
} else {
  puts "WARNING: BOARD=none: the PS gets no board preset (DDR/MIO defaults)"
  set preset 0
}
set_property ip_repo_paths "$bld/ip" [current_project]
update_ip_catalog
create_bd_design $name

set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7 ps7]
apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
  -config [list make_external "FIXED_IO, DDR" apply_board_preset $preset] $ps
set_property -dict [list CONFIG.PCW_USE_S_AXI_HP0 {1} CONFIG.PCW_USE_M_AXI_GP0 {1} \
  CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {100}] $ps

set dma [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma dma]
set_property -dict [list CONFIG.c_include_sg {0} CONFIG.c_sg_length_width {23} \
  CONFIG.c_m_axis_mm2s_tdata_width {8} CONFIG.c_s_axis_s2mm_tdata_width {8} \
  CONFIG.c_mm2s_burst_size {16} CONFIG.c_s2mm_burst_size {16}] $dma

set emu [create_bd_cell -type ip -vlnv memhil:user:memhil_ip:1.0 memhil]
set_property -dict [list CONFIG.ROWS $rows CONFIG.COLS $cols CONFIG.TILES $tiles \
  CONFIG.LANES $lanes CONFIG.G_W $gw CONFIG.PAYLOAD_LOG2 $plog2 \
  CONFIG.BATCH_MAX $bmax CONFIG.BL_MAX $blmax] $emu

connect_bd_intf_net [get_bd_intf_pins dma/M_AXIS_MM2S] [get_bd_intf_pins memhil/s_axis_cmd]
connect_bd_intf_net [get_bd_intf_pins memhil/m_axis_rsp] [get_bd_intf_pins dma/S_AXIS_S2MM]

apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config { Clk_master {/ps7/FCLK_CLK0 (100 MHz)} \
  Clk_slave {Auto} Clk_xbar {Auto} Master {/ps7/M_AXI_GP0} Slave {/memhil/s_axil} \
  ddr_seg {Auto} intc_ip {New AXI Interconnect} master_apm {0}} [get_bd_intf_pins memhil/s_axil]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config { Clk_master {/ps7/FCLK_CLK0 (100 MHz)} \
  Clk_slave {Auto} Clk_xbar {Auto} Master {/ps7/M_AXI_GP0} Slave {/dma/S_AXI_LITE} \
  ddr_seg {Auto} intc_ip {Auto} master_apm {0}} [get_bd_intf_pins dma/S_AXI_LITE]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config { Clk_master {Auto} Clk_slave {Auto} \
  Clk_xbar {Auto} Master {/dma/M_AXI_MM2S} Slave {/ps7/S_AXI_HP0} ddr_seg {Auto} \
  intc_ip {New AXI SmartConnect} master_apm {0}} [get_bd_intf_pins ps7/S_AXI_HP0]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config { Clk_master {Auto} Clk_slave {Auto} \
  Clk_xbar {Auto} Master {/dma/M_AXI_S2MM} Slave {/ps7/S_AXI_HP0} ddr_seg {Auto} \
  intc_ip {Auto} master_apm {0}} [get_bd_intf_pins dma/M_AXI_S2MM]
# the AXI automation above normally connects memhil/aclk and memhil/aresetn already; run the
# clock/reset automation only on a pin it left unconnected (it refuses a connected one)
foreach pin {memhil/aclk memhil/aresetn} {
  if {[llength [get_bd_nets -quiet -of_objects [get_bd_pins $pin]]] == 0} {
    apply_bd_automation -rule xilinx.com:bd_rule:clkrst \
      -config {Clk {/ps7/FCLK_CLK0 (100 MHz)}} [get_bd_pins $pin]
  }
}

# pin the register windows (the automation above picks free ones; pynq reads them from the .hwh,
# and tests/memhil_hwh.py, tests/pynq_standin.py and docs/board.md use these same addresses)
assign_bd_address -offset 0x40400000 -range 0x00010000 -target_address_space \
  [get_bd_addr_spaces ps7/Data] [get_bd_addr_segs dma/S_AXI_LITE/Reg] -force
assign_bd_address -offset 0x43C00000 -range 0x00001000 -target_address_space \
  [get_bd_addr_spaces ps7/Data] [get_bd_addr_segs memhil/s_axil/reg0] -force

validate_bd_design
save_bd_design
set wrapper [make_wrapper -files [get_files "$name.bd"] -top]
add_files -norecurse $wrapper
set_property top ${name}_wrapper [current_fileset]
update_compile_order -fileset sources_1

# ------------------------------------------------------------------ 3. implementation
launch_runs impl_1 -jobs $jobs
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} {
  puts stderr "ERROR: implementation failed: see $bld/$name/$name.runs/impl_1"
  exit 1
}

# ------------------------------------------------------------------ 4. reports and timing gate
open_run impl_1
set util_rpt "$here/$name.utilization.rpt"
set timing_rpt "$here/$name.timing.rpt"
report_utilization -file $util_rpt
report_timing_summary -delay_type min_max -max_paths 10 -report_unconstrained \
  -file $timing_rpt
set setup [get_timing_paths -quiet -delay_type max -max_paths 1 -nworst 1]
set hold  [get_timing_paths -quiet -delay_type min -max_paths 1 -nworst 1]
if {[llength $setup] == 0 || [llength $hold] == 0} {
  puts stderr "ERROR: no constrained timing paths (is FCLK_CLK0 constrained?): see $timing_rpt"
  exit 1
}
set wns [get_property SLACK $setup]
set whs [get_property SLACK $hold]
puts "timing: setup WNS $wns ns, hold WHS $whs ns (report: $timing_rpt)"
if {$wns < 0 || $whs < 0} {
  puts stderr "ERROR: timing not met (WNS $wns ns, WHS $whs ns): no bitstream written.\
    See $timing_rpt; lower LANES or the PL clock (CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ)."
  exit 1
}

# ------------------------------------------------------------------ 5. bitstream
launch_runs impl_1 -to_step write_bitstream -jobs $jobs
wait_on_run impl_1
set bit [glob -nocomplain "$bld/$name/$name.runs/impl_1/*.bit"]
if {[llength $bit] != 1} {
  puts stderr "ERROR: write_bitstream made no .bit: see $bld/$name/$name.runs/impl_1"
  exit 1
}
file copy -force [lindex $bit 0] "$here/$name.bit"
set hwh [glob -nocomplain "$bld/$name/$name.gen/sources_1/bd/$name/hw_handoff/$name.hwh" \
                          "$bld/$name/$name.srcs/sources_1/bd/$name/hw_handoff/$name.hwh"]
if {[llength $hwh] == 0} {
  puts stderr "ERROR: no $name.hwh under $bld/$name (pynq needs it beside the .bit)"
  exit 1
}
file copy -force [lindex $hwh 0] "$here/$name.hwh"
puts "wrote $here/$name.bit, $here/$name.hwh, $util_rpt and $timing_rpt"
