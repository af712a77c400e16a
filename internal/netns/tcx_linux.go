//go:build linux

package netns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// TCX verdicts (include/uapi/linux/bpf.h). TCX_NEXT rather than TCX_PASS,
// so that programs attached after ours, and tc filters, still run.
const (
	tcxNext = -1
	tcxDrop = 2 // TC_ACT_SHOT
)

// Offsets of the fields of struct __sk_buff the ingress program reads.
const (
	skbVLANPresent = 20
	skbVLANTCI     = 24
	skbVLANProto   = 28
)

// enotsupp is the kernel-internal ENOTSUPP, which BPF system calls leak to
// user space; x/sys/unix does not define it.
const enotsupp = syscall.Errno(524)

// attachVLANTagger loads the two programs of TagVLANs and attaches them to
// the interface ifname, which must be in the calling thread's namespace.
// keep receives every object made, to close when the test ends, even if a
// later step fails.
func attachVLANTagger(ifname string, stack []VLANTag, keep func(io.Closer)) error {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	for _, p := range []struct {
		name   string
		attach ebpf.AttachType
		insns  asm.Instructions
	}{
		{"ecn_vlan_pop", ebpf.AttachTCXIngress, vlanPopProgram(stack)},
		{"ecn_vlan_push", ebpf.AttachTCXEgress, vlanPushProgram(stack)},
	} {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name:         p.name,
			Type:         ebpf.SchedCLS,
			Instructions: p.insns,
			// Neither helper is GPL-only, so the verifier does not care.
			License: "MIT",
		})
		if err != nil {
			var verr *ebpf.VerifierError
			if !errors.As(err, &verr) && (errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EPERM) ||
				errors.Is(err, unix.EACCES) || errors.Is(err, unix.EINVAL) || errors.Is(err, enotsupp)) {
				err = fmt.Errorf("%w: %w", errNoTCX, err)
			}
			return fmt.Errorf("load %s: %w", p.name, err)
		}
		keep(prog)
		l, err := link.AttachTCX(link.TCXOptions{Interface: ifi.Index, Program: prog, Attach: p.attach})
		if err != nil {
			if errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) ||
				errors.Is(err, enotsupp) || errors.Is(err, unix.EOPNOTSUPP) {
				err = fmt.Errorf("%w: %w", errNoTCX, err)
			}
			return fmt.Errorf("attach %s to %s: %w", p.name, ifname, err)
		}
		keep(l)
	}
	return nil
}

// vlanPopProgram returns the ingress program: it checks that the frame
// carries stack and pops it, else drops the frame. The receive path has
// already moved the outer tag into the skb's metadata before TCX runs, and
// each bpf_skb_vlan_pop clears that tag and moves the next 802.1Q/802.1ad
// tag from the data into it, so every tag is checked in the metadata.
func vlanPopProgram(stack []VLANTag) asm.Instructions {
	insns := asm.Instructions{
		// R1 is lost to the helper calls.
		asm.Mov.Reg(asm.R6, asm.R1),
	}
	for _, tag := range stack {
		insns = append(insns,
			asm.LoadMem(asm.R2, asm.R6, skbVLANPresent, asm.Word),
			asm.JEq.Imm(asm.R2, 0, "drop"),
			asm.LoadMem(asm.R2, asm.R6, skbVLANProto, asm.Word),
			asm.JNE.Imm(asm.R2, int32(htons(tag.TPID)), "drop"),
			asm.LoadMem(asm.R2, asm.R6, skbVLANTCI, asm.Word),
			asm.And.Imm(asm.R2, 0x0fff),
			asm.JNE.Imm(asm.R2, int32(tag.ID), "drop"),
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.FnSkbVlanPop.Call(),
			asm.JNE.Imm(asm.R0, 0, "drop"),
		)
	}
	return append(insns,
		// A deeper stack than ours would not reach the sub-interface's
		// IP stack either.
		asm.LoadMem(asm.R2, asm.R6, skbVLANPresent, asm.Word),
		asm.JNE.Imm(asm.R2, 0, "drop"),
		asm.Mov.Imm(asm.R0, tcxNext),
		asm.Return(),
		asm.Mov.Imm(asm.R0, tcxDrop).WithSymbol("drop"),
		asm.Return(),
	)
}

// vlanPushProgram returns the egress program: it pushes stack, innermost
// tag first. Each bpf_skb_vlan_push writes the tag already in the metadata
// into the data and puts the new one in its place, so the outermost tag
// ends up as metadata, as a VLAN sub-interface leaves it.
func vlanPushProgram(stack []VLANTag) asm.Instructions {
	insns := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
	for i := len(stack) - 1; i >= 0; i-- {
		insns = append(insns,
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.Mov.Imm(asm.R2, int32(htons(stack[i].TPID))),
			asm.Mov.Imm(asm.R3, int32(stack[i].ID)),
			asm.FnSkbVlanPush.Call(),
			asm.JNE.Imm(asm.R0, 0, "drop"),
		)
	}
	return append(insns,
		asm.Mov.Imm(asm.R0, tcxNext),
		asm.Return(),
		asm.Mov.Imm(asm.R0, tcxDrop).WithSymbol("drop"),
		asm.Return(),
	)
}

// htons returns v as the kernel keeps a __be16 in a host-order register:
// the TPID argument of bpf_skb_vlan_push and __sk_buff.vlan_proto.
func htons(v uint16) uint16 {
	return binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, v))
}
