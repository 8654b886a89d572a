package admin

// The listings' filter forms. Each listing describes its fields; the
// "filters" template (layout.html) renders every form the same way: a GET
// form to the listing, its fields, Filter, Reset, and an export link when
// the listing has one.

// filterForm is a listing's filter form.
type filterForm struct {
	// Action is the listing's path: the form submits to it and Reset
	// links to it.
	Action string
	Fields []filterField
	// Export is the link exporting what the filters select, "" for none.
	Export string
}

// Kinds of filter fields other than input types.
const (
	// fieldSelect is a menu of Options.
	fieldSelect = "select"
	// fieldChip is a filter the form keeps but does not edit (it is set
	// by a link from another page): a hidden field shown as a chip, left
	// out when its Value is "".
	fieldChip = "chip"
)

// filterField is one field of a filter form.
type filterField struct {
	// Kind is fieldSelect, fieldChip, or the type of an input ("search",
	// "text", "number").
	Kind        string
	Label, Name string
	// Value is the filter as submitted.
	Value   string
	Options []filterOption
	// Placeholder, Size, Min and Max are the input's attributes of those
	// names, left out when "".
	Placeholder, Size, Min, Max string
}

// filterOption is one choice of a select field.
type filterOption struct {
	Value, Label string
	Selected     bool
}

// selectField is a select of options, the one whose value is current
// selected.
func selectField(label, name, current string, options ...filterOption) filterField {
	for i := range options {
		options[i].Selected = options[i].Value == current
	}
	return filterField{Kind: fieldSelect, Label: label, Name: name, Value: current, Options: options}
}

// choiceField is a select of values shown as they are, after a first
// choice, labelled blank, that filters nothing out.
func choiceField(label, name, current, blank string, values []string) filterField {
	options := make([]filterOption, 0, len(values)+1)
	options = append(options, filterOption{Value: "", Label: blank})
	for _, v := range values {
		options = append(options, filterOption{Value: v, Label: v})
	}
	return selectField(label, name, current, options...)
}

// directoryField is the directory select every listing has.
func directoryField(current string, directories []string) filterField {
	return choiceField("Directory", "directory", current, "all", directories)
}

// sinceField is a "since" filter typed as a date or a span back from now
// (see querySince).
func sinceField(label, current string) filterField {
	return filterField{Kind: "text", Label: label, Name: "since", Value: current, Placeholder: "2026-01-31, 7d, 36h", Size: "18"}
}
